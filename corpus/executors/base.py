"""The executor contract: run units of work through a pipeline, calling back when a task (one
fetched file) is done and when a whole unit is done; the caller owns what is written."""

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
OnUnit = Callable[[UnitWork, list[Task]], None]
