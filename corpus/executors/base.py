"""The executor contract: run units of work through a pipeline, finish each unit where its tasks
ran (finish: tars, table parts, marker), and call back in the build's process when a task (one
fetched file) and when a whole unit is done (progress, stats)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from corpus.steps.base import Task


@dataclass
class UnitWork:
    unit: str
    rows: list[dict]  # every row of the unit, pending or not
    tasks: list[Task]


OnTask = Callable[[Task], None]
Finish = Callable[[UnitWork, list[Task]], dict]  # picklable; returns the unit's marker
OnUnit = Callable[[UnitWork, dict], None]  # the unit's marker
OnDone = Callable[[object, object], None]  # (item, result) of map, in the calling process
