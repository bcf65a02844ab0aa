"""Registered executors: a new one is a file and a line here. Named by module and class so that
listing them (the CLI's choices) imports neither multiprocessing pools nor Ray."""

from __future__ import annotations

import importlib

EXECUTORS: dict[str, str] = {"local": "corpus.executors.local:LocalExecutor", "ray": "corpus.executors.ray:RayExecutor"}


def get_executor(name: str):
    """The executor class registered as `name`."""
    module, _, cls = EXECUTORS[name].partition(":")
    return getattr(importlib.import_module(module), cls)
