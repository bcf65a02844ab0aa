"""Executors run units of work through the steps. They own parallelism and call back when a
task (one fetched file) and when a whole unit is done; the caller owns what is written."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass

from corpus.steps.base import Task


@dataclass
class UnitWork:
    unit: str
    rows: list[dict]  # every row of the unit, pending or not
    tasks: list[Task]


OnTask = Callable[[Task], None]
OnUnit = Callable[[UnitWork, list[Task]], None]


class LocalExecutor:
    """A process pool over tasks (not units), so a few large units still keep every worker busy;
    a unit is finished in the main process as soon as its last task returns. workers=1 runs in
    this process, which keeps tracebacks readable."""

    def __init__(self, workers: int = 1):
        self.workers = max(1, workers)

    def run(self, units: Iterable[UnitWork], process: Callable[[Task], Task], on_task: OnTask,
            on_unit: OnUnit) -> None:
        if self.workers == 1:
            for work in units:
                done = []
                for task in work.tasks:
                    done.append(process(task))
                    on_task(done[-1])
                on_unit(work, done)
            return
        # spawn: workers must not inherit the parent's threads (progress bar, HTTP servers in tests).
        with ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn")) as pool:
            self._run_pool(pool, units, process, on_task, on_unit)

    def _run_pool(self, pool, units, process, on_task, on_unit) -> None:
        in_flight: dict[Future, UnitWork] = {}
        remaining: dict[str, int] = {}
        finished: dict[str, list[Task]] = {}
        queue = ((work, task) for work in units for task in (work.tasks or [None]))
        limit = self.workers * 3  # bounded look-ahead: the plan may hold millions of rows

        def settle(work: UnitWork, task: Task | None) -> None:
            if task is not None:
                on_task(task)
                finished[work.unit].append(task)
            remaining[work.unit] -= 1
            if remaining[work.unit] == 0:
                on_unit(work, finished.pop(work.unit))

        exhausted = False
        while in_flight or not exhausted:
            while not exhausted and len(in_flight) < limit:
                item = next(queue, None)
                if item is None:
                    exhausted = True
                    break
                work, task = item
                if work.unit not in remaining:
                    remaining[work.unit] = len(work.tasks) or 1
                    finished[work.unit] = []
                if task is None:  # a unit with nothing to fetch (all rows failed at plan time)
                    settle(work, None)
                else:
                    in_flight[pool.submit(process, task)] = work
            if in_flight:
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for fut in done:
                    settle(in_flight.pop(fut), fut.result())


EXECUTORS = {"local": LocalExecutor}
