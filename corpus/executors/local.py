"""The local executor: a process pool over tasks (not units), so a few large units still keep
every worker busy; a unit is finished in this process as soon as its last task returns. Each
worker builds the pipeline's steps once. workers=1 runs in this process, which keeps tracebacks
readable."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

from corpus.executors.base import Finish, OnDone, OnTask, OnUnit, UnitWork
from corpus.pipeline import Pipeline, run_task
from corpus.steps.base import Step, Task

_STEPS: list[Step] = []  # this worker process' steps, built once by _start_worker


def _start_worker(pipeline: Pipeline) -> None:
    _STEPS[:] = pipeline.build()


def _run_in_worker(task: Task) -> Task:
    return run_task(_STEPS, task)


_MAP_FN: list[Callable] = []  # this worker process' function of a map, sent once by _start_map_worker


def _start_map_worker(fn: Callable) -> None:
    _MAP_FN[:] = [fn]


def _map_in_worker(item):
    return _MAP_FN[0](item)


class LocalExecutor:
    def __init__(self, workers: int = 1, **_):
        self.workers = max(1, workers)

    def run(self, units: Iterable[UnitWork], pipeline: Pipeline, finish: Finish, on_task: OnTask,
            on_unit: OnUnit) -> None:
        def done_unit(work: UnitWork, tasks: list[Task]) -> None:
            on_unit(work, finish(work, tasks))

        if self.workers == 1:
            steps = pipeline.build()
            for work in units:
                done = []
                for task in work.tasks:
                    done.append(run_task(steps, task))
                    on_task(done[-1])
                done_unit(work, done)
            return
        # spawn: workers must not inherit the parent's threads (progress bar, HTTP servers in tests).
        pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"), initializer=_start_worker,
                                   initargs=(pipeline,))
        try:
            self._run_pool(pool, units, on_task, done_unit)
        finally:  # on a fault, tasks not started yet are dropped: their rows stay pending for the rerun
            pool.shutdown(wait=True, cancel_futures=True)

    def map(self, fn: Callable, items: Iterable, on_done: OnDone) -> None:
        """fn(item) for every item, in worker processes (fn and items picklable); on_done(item,
        result) here, as each finishes. A worker's exception stops the map and is raised here."""
        if self.workers == 1:
            for item in items:
                on_done(item, fn(item))
            return
        # fn goes to each worker once (it may hold large arrays), items with each call.
        pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"), initializer=_start_map_worker,
                                   initargs=(fn,))
        try:
            _bounded(pool, _map_in_worker, items, self.workers * 2, on_done)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _run_pool(self, pool, units, on_task, on_unit) -> None:
        works: dict[str, UnitWork] = {}
        finished: dict[str, list[Task]] = {}

        def tasks():
            for work in units:
                if not work.tasks:  # a unit with nothing to fetch (all rows failed at plan time)
                    on_unit(work, [])
                    continue
                works[work.unit], finished[work.unit] = work, []
                yield from work.tasks

        def settle(sent: Task, task: Task) -> None:
            on_task(task)
            done = finished[sent.unit]
            done.append(task)
            if len(done) == len(works[sent.unit].tasks):
                del finished[sent.unit]
                on_unit(works.pop(sent.unit), done)

        # bounded look-ahead: the plan may hold millions of rows
        _bounded(pool, _run_in_worker, tasks(), self.workers * 3, settle)


def _bounded(pool: ProcessPoolExecutor, fn: Callable, items: Iterable, limit: int, on_done: OnDone) -> None:
    """fn(item) in the pool for every item, at most `limit` submitted at once; on_done(item,
    result) here as each finishes. A worker's exception is raised here."""
    in_flight: dict[Future, object] = {}
    queue = iter(items)
    while True:
        while len(in_flight) < limit and (item := next(queue, None)) is not None:
            in_flight[pool.submit(fn, item)] = item
        if not in_flight:
            return
        done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
        for fut in done:
            on_done(in_flight.pop(fut), fut.result())
