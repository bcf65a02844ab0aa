"""The pipeline every fetched file goes through: a plain list of step classes (filters are steps)
and the build's options. Each worker builds the steps once and runs every task it is given through them; what
each step did travels with the task and is summed per unit (unit_stats)."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path

from corpus.errors import machine_fault
from corpus.options import BuildOptions
from corpus.steps.base import Step, Task
from corpus.steps.clip import Clip
from corpus.steps.fetch import Fetch
from corpus.steps.filters import build_filters
from corpus.steps.image import StoreImage
from corpus.steps.probe import Probe

# The steps for each kind of media a source yields (Source.media).
STEPS: dict[str, tuple[type[Step], ...]] = {"video": (Fetch, Probe, Clip), "image": (Fetch, StoreImage)}


@dataclass(frozen=True)
class Pipeline:
    options: BuildOptions
    steps: tuple[type[Step], ...] = STEPS["video"]

    def build(self) -> list[Step]:
        """Filters on rows first (nothing is fetched for a row they drop), then the media steps,
        then filters on clips."""
        filters = build_filters(self.options.filters)
        return ([f for f in filters if f.on == "rows"] + [step.from_build(self.options) for step in self.steps]
                + [f for f in filters if f.on == "clips"])


def run_task(steps: list[Step], task: Task) -> Task:
    """Raises only MachineFault (a full disk, a vanished folder, ...): the build stops and no row
    fails. Any other unexpected error fails the task's rows with error_kind internal, and the
    build goes on. The fetched file is deleted when it was a download."""
    try:
        stream = [task]
        for step in steps:
            stream = step.run(stream)
        (task,) = list(stream)
    except Exception as e:  # noqa: BLE001 - one bad file must not end a 650k-video build
        fault = machine_fault(e, Path(task.workdir).parent.parent)  # workdir is DIR/.work/UNIT
        if fault is not None:
            raise fault from e  # the machine, not the file: the build stops and no row fails
        for r in task.pending:
            r.update(status="failed", error_kind="internal", error=f"{type(e).__name__}: {e}")
        task.clips = []
        traceback.print_exc()
    finally:
        if task.downloaded and task.file:
            Path(task.file).unlink(missing_ok=True)
    return task
