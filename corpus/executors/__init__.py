"""Registered executors: a new one is a file and a line here (Ray itself is imported only when a
Ray executor runs)."""

from __future__ import annotations

from typing import Any

from corpus.errors import InputError
from corpus.executors.base import Executor
from corpus.executors.local import LocalExecutor
from corpus.executors.ray import RayExecutor
from corpus.options import ExecutorOptions, NoOptions

EXECUTORS: dict[str, type[Executor]] = {e.name: e for e in (LocalExecutor, RayExecutor)}


def get_executor(settings: Any) -> Executor:
    """The executor a command's settings choose (their `executor` section), built from its own options."""
    name = settings.executor.executor
    if name not in EXECUTORS:
        raise InputError(f"--executor {name!r}: choose one of {', '.join(EXECUTORS)}")
    return EXECUTORS[name].from_build(settings)


def local_executor(workers: int) -> Executor:
    """The local executor with `workers` processes (1: in this process)."""
    return LocalExecutor(NoOptions(), ExecutorOptions(workers=workers))
