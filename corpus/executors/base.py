"""The executor contract. An executor owns parallelism through one method, a bounded `map`: a
picklable function over items, at most a bounded number in flight, each result handed back in
the calling process as it comes. `run` (the build's units through a pipeline) is written once on
that map, here: where an executor finishes units (tars, table parts, marker) is its one choice.
The local executor maps over files (tasks), so a few large units still keep every worker busy,
and finishes each unit in the calling process when its last file returns; the Ray executor maps
over units and finishes each on its worker, so that clip bytes never pass through the driver."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from corpus.component import Component
from corpus.options import ExecutorOptions
from corpus.pipeline import Pipeline, run_task
from corpus.steps.base import Step, Task


@dataclass
class UnitWork:
    unit: str
    rows: list[dict]  # every row of the unit, pending or not
    tasks: list[Task]


OnTask = Callable[[Task], None]
Finish = Callable[[UnitWork, list[Task]], dict]  # picklable; returns the unit's marker
OnUnit = Callable[[UnitWork, dict], None]  # the unit's marker
OnDone = Callable[[object, object], None]  # (item, result) of map, in the calling process

_STEPS: dict[str, list[Step]] = {}  # per process: the current pipeline's steps, built once


def _steps(pipeline: Pipeline) -> list[Step]:
    key = repr(pipeline)
    if key not in _STEPS:
        _STEPS.clear()  # one build at a time per process: an earlier build's steps are not kept
        _STEPS[key] = pipeline.build()
    return _STEPS[key]


def run_one_task(pipeline: Pipeline, task: Task) -> Task:
    return run_task(_steps(pipeline), task)


def run_one_unit(pipeline: Pipeline, finish: Finish, work: UnitWork) -> tuple[list[Task], dict]:
    """A unit's tasks through the pipeline, then the unit finished, where this runs."""
    tasks = [run_task(_steps(pipeline), task) for task in work.tasks]
    return tasks, finish(work, tasks)


def bounded_map(items: Iterable, limit: int, submit: Callable[[Any], Any], wait_one: Callable[[list], Any],
                result: Callable[[Any, Any], Any], on_done: OnDone) -> None:
    """The one loop of every executor's map: submit(item) until `limit` are in flight, then
    wait_one(handles) for one that finished, on_done(item, result(handle, item)), and so on."""
    in_flight: dict[Any, Any] = {}
    queue = iter(items)
    while True:
        while len(in_flight) < limit and (item := next(queue, None)) is not None:
            in_flight[submit(item)] = item
        if not in_flight:
            return
        handle = wait_one(list(in_flight))
        item = in_flight.pop(handle)
        on_done(item, result(handle, item))


class Executor(Component):
    """Built from the shared executor section (which executor, how many workers) and its own options."""

    finishes_units_on_workers: ClassVar[bool]  # False: units are finished in the calling process
    workers_share_this_disk: ClassVar[bool]  # True: workers can read a file the calling process writes
    reads: ClassVar[tuple[str, ...]] = ("executor",)
    executor: ExecutorOptions

    def __init__(self, options: Any, executor: ExecutorOptions) -> None:
        super().__init__(options, executor=executor)
        self.workers = executor.workers

    def map(self, fn: Callable, items: Iterable, on_done: OnDone) -> None:
        """fn(item) for every item, a bounded number at once; on_done(item, result) here as each
        finishes. An exception of fn stops the map and is raised here."""
        raise NotImplementedError

    def run(self, units: Iterable[UnitWork], pipeline: Pipeline, finish: Finish, on_task: OnTask,
            on_unit: OnUnit) -> None:
        if self.finishes_units_on_workers:
            def unit_done(work: UnitWork, result: tuple[list[Task], dict]) -> None:
                tasks, marker = result
                for task in tasks:
                    on_task(task)
                on_unit(work, marker)

            self.map(functools.partial(run_one_unit, pipeline, finish), units, unit_done)
            return
        works: dict[str, UnitWork] = {}
        finished: dict[str, list[Task]] = {}

        def tasks() -> Iterator[Task]:  # lazily: the plan may hold millions of rows
            for work in units:
                if not work.tasks:  # a unit with nothing to fetch (all rows failed at plan time)
                    on_unit(work, finish(work, []))
                    continue
                works[work.unit], finished[work.unit] = work, []
                yield from work.tasks

        def task_done(sent: Task, task: Task) -> None:
            on_task(task)
            done = finished[sent.unit]
            done.append(task)
            if len(done) == len(works[sent.unit].tasks):
                del finished[sent.unit]
                work = works.pop(sent.unit)
                on_unit(work, finish(work, done))

        self.map(functools.partial(run_one_task, pipeline), tasks(), task_done)
