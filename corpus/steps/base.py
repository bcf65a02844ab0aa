"""Steps: small classes with one job, each a component with its own options. The base owns
iteration, failure capture, counting and timing; a subclass overrides the one hook `process`.
What a step did to a task (its outcome and seconds) travels with the task, so an executor can sum
it per unit wherever the task ran."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from corpus.component import Component
from corpus.errors import MachineFault, StepError


@dataclass
class Task:
    """One file to fetch (a URL or a local path) and the input rows that are cut from it."""

    unit: str
    rows: list[dict]
    workdir: str
    fetcher: str = "local"  # name in corpus.fetchers.FETCHERS
    file: str | None = None  # local file once fetched
    downloaded: bool = False  # True when `file` is ours to delete
    info: dict | None = None  # ffprobe summary
    clips: list[dict] = field(default_factory=list)  # clip rows; "file" holds the encoded clip
    stats: dict[str, Counter] = field(default_factory=dict)  # step name -> outcome counts and seconds
    warnings: list[str] = field(default_factory=list)  # distinct warnings of the tools (yt-dlp) on this task
    rejects: list[dict] = field(default_factory=list)  # rows and clips the filters kept out, with reasons

    def make_workdir(self) -> Path:
        """The unit's scratch folder (DIR/.work/UNIT), made only inside a corpus that still exists:
        a vanished corpus is a fault of the machine, not something to rebuild a skeleton of."""
        workdir = Path(self.workdir)
        corpus = workdir.parent.parent
        if not corpus.is_dir():
            raise MachineFault("the corpus folder vanished while the build wrote to it", str(corpus))
        workdir.mkdir(parents=True, exist_ok=True)
        return workdir

    def clip_of(self, row: dict, **made) -> dict:
        """A clip row of `row`: what the clip inherits from its input row, and what was `made`."""
        inherited = {k: row.get(k) for k in ("video_id", "source", "row", "label", "label_id", "split", "caption",
                                              "captions", "meta")}
        return {**inherited, "unit": self.unit, **made}

    @property
    def pending(self) -> list[dict]:
        return [r for r in self.rows if r["status"] == "pending"]

    def fail_pending(self, err: StepError) -> None:
        for r in self.pending:
            r.update(status="skipped" if err.skipped else "failed", error_kind=err.kind, error=err.message)


class Step(Component):
    """One job on each task. The base runs the loop: which tasks it applies to (`applies`), the
    outcome counts and seconds in the task's stats, a StepError failing the task's pending rows.
    A subclass writes `process`; a filter (steps/filters/base.py) is a step whose hook is `check`."""

    def applies(self, task: Task) -> bool:
        """Whether this step has work in `task`: rows still pending."""
        return bool(task.pending)

    def run(self, tasks: Iterable[Task]) -> Iterator[Task]:
        for task in tasks:
            if self.applies(task):
                stats = task.stats.setdefault(self.name, Counter())
                start = time.perf_counter()
                try:
                    outcome = self.process(task)
                    stats.update({"ok": 1} if outcome is None else outcome)
                except StepError as e:
                    task.fail_pending(e)
                    stats[e.kind] += 1
                finally:
                    stats["seconds"] += time.perf_counter() - start
            yield task

    @staticmethod
    def each_row(task: Task, work: Callable[[dict], None]) -> Counter:
        """work(row) on each pending row, for a step whose rows of one file succeed or fail
        apart (one bad range of a video fails that row alone): a StepError fails its row, and
        the outcomes of the rows are counted."""
        outcomes: Counter = Counter()
        for row in task.pending:
            try:
                work(row)
                outcomes["ok"] += 1
            except StepError as e:
                row.update(status="skipped" if e.skipped else "failed", error_kind=e.kind, error=e.message)
                outcomes[e.kind] += 1
        return outcomes

    def process(self, task: Task) -> Counter | None:
        """Do this step's work on one task; raise StepError to fail its pending rows. Returns the
        outcomes to count (None: one "ok")."""
        raise NotImplementedError
