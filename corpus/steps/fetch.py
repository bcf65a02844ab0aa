"""fetch: bring the task's file to local disk with the fetcher the task carries (HTTP, yt-dlp or
a local path); retries with backoff for transient errors happen inside the fetcher."""

from __future__ import annotations

from pathlib import Path

from corpus.fetchers import FETCHERS, Fetcher, FetchRequest
from corpus.options import BuildOptions
from corpus.steps.base import Step, Task
from manifests.sample import safe_id


class Fetch(Step):
    name = "fetch"

    def __init__(self, options, fetchers: dict[str, Fetcher]) -> None:
        super().__init__(options)
        self.fetchers = fetchers

    @classmethod
    def from_build(cls, build: BuildOptions) -> Fetch:
        """With every registered fetcher, each built from its own options."""
        return cls(build.of(cls), {name: fetcher.from_build(build) for name, fetcher in FETCHERS.items()})

    def process(self, task: Task) -> None:
        row = task.rows[0]

        def count_try() -> None:
            for r in task.pending:
                r["attempts"] = (r["attempts"] or 0) + 1

        workdir = Path(task.workdir) if task.fetcher == "local" else task.make_workdir()
        req = FetchRequest(url=row["url"], path=row["path"], stem=safe_id(row["video_id"]), workdir=workdir,
                           section=self._section(task))
        try:
            got = self.fetchers[task.fetcher].fetch(req, count_try)
        finally:  # a failed fetch's warnings say most about why
            task.warnings += [w for w in req.warnings if w not in task.warnings]
        task.file, task.downloaded = str(got.path), got.downloaded
        for r in task.rows:
            r.update(bytes=got.bytes, sha256=got.sha256)
            if got.offset_s is not None:
                r["offset_s"] = got.offset_s

    @staticmethod
    def _section(task: Task) -> tuple[float, float] | None:
        """The one annotated range that covers the task's rows, when each has one."""
        rows = task.pending
        if any(r["start_s"] is None for r in rows):
            return None
        return (min(r["start_s"] for r in rows), max(r["end_s"] for r in rows))
