"""The local executor: a process pool on this machine (spawned workers, each given the mapped
function once); workers=1 runs in this process, which keeps tracebacks readable."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from corpus.executors.base import Executor, OnDone, bounded_map
from manifests.children import keep_current_folder_off_child_paths

_MAP_FN: list[Callable] = []  # this worker process' function of a map, sent once by _start_worker


def _start_worker(fn: Callable) -> None:
    _MAP_FN[:] = [fn]


def _call_in_worker(item):
    return _MAP_FN[0](item)


class LocalExecutor(Executor):
    name = "local"
    finishes_units_on_workers = False
    workers_share_this_disk = True
    LOOKAHEAD = 3  # items submitted per worker: the next is ready when one finishes

    def map(self, fn: Callable, items: Iterable, on_done: OnDone) -> None:
        if self.workers == 1:
            for item in items:
                on_done(item, fn(item))
            return
        # spawn: workers must not inherit the parent's threads (progress bar, HTTP servers in tests);
        # fn goes to each worker once (it may hold large arrays), items with each call.
        keep_current_folder_off_child_paths()
        pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"), initializer=_start_worker,
                                   initargs=(fn,))
        try:
            bounded_map(items, self.workers * self.LOOKAHEAD, lambda item: pool.submit(_call_in_worker, item),
                        lambda futures: next(iter(wait(futures, return_when=FIRST_COMPLETED)[0])),
                        lambda future, item: future.result(), on_done)
        finally:  # on a fault, items not started yet are dropped (a build's rows stay pending for the rerun)
            pool.shutdown(wait=True, cancel_futures=True)
