"""Executors: they take units and a pipeline and own parallelism; a new one is a file and a line."""

from corpus.executors.base import UnitWork
from corpus.executors.local import LocalExecutor
from corpus.executors.ray import RayExecutor

EXECUTORS = {"local": LocalExecutor, "ray": RayExecutor}

__all__ = ["EXECUTORS", "UnitWork"]
