"""What runs in a worker process: fetch → probe → clip for one file. Kept apart from the build
orchestration so that worker start-up imports the steps only (no pandas, no yt-dlp unless used)."""

from __future__ import annotations

import dataclasses
import traceback
from pathlib import Path

from corpus.options import BuildOptions
from corpus.steps.base import Task
from corpus.steps.clip import Clip
from corpus.steps.fetch import Fetch
from corpus.steps.probe import Probe

STEPS = (Fetch, Probe, Clip)


def process_task(task: Task, options: BuildOptions) -> Task:
    """Never raises: an unexpected error fails the task's rows with error_kind internal, and the
    build goes on."""
    try:
        stream = [task]
        for step in STEPS:
            stream = step(options).run(stream)
        (task,) = list(stream)
    except Exception as e:  # noqa: BLE001 - one bad file must not end a 650k-video build
        for r in task.pending:
            r.update(status="failed", error_kind="internal", error=f"{type(e).__name__}: {e}")
        task.clips = []
        traceback.print_exc()
    finally:
        if task.downloaded and task.file:
            Path(task.file).unlink(missing_ok=True)
    return task


@dataclasses.dataclass(frozen=True)
class TaskRunner:
    """Picklable callable handed to worker processes."""

    options: BuildOptions

    def __call__(self, task: Task) -> Task:
        return process_task(task, self.options)
