"""fetch: bring the task's file to local disk with the fetcher the task carries (HTTP, yt-dlp or
a local path); retries with backoff for transient errors happen inside the fetcher."""

from __future__ import annotations

from pathlib import Path

from corpus.fetchers import FETCHERS, FetchRequest
from corpus.options import BuildOptions, FetchStepOptions
from corpus.steps.base import Step, Task
from manifests.sample import safe_id


class Fetch(Step):
    name = "fetch"

    @classmethod
    def options_from(cls, build: BuildOptions) -> FetchStepOptions:
        return FetchStepOptions(build.fetch, build.clip.keep_audio)

    def process(self, task: Task) -> None:
        row = task.rows[0]

        def count_try() -> None:
            for r in task.pending:
                r["attempts"] = (r["attempts"] or 0) + 1

        workdir = Path(task.workdir) if task.fetcher == "local" else task.make_workdir()
        req = FetchRequest(url=row["url"], path=row["path"], stem=safe_id(row["video_id"]), workdir=workdir,
                           section=self._section(task))
        try:
            got = FETCHERS[task.fetcher](req, self.options, count_try)
        finally:  # a failed fetch's warnings say most about why
            task.warnings += [w for w in req.warnings if w not in task.warnings]
        task.file, task.downloaded = str(got.path), got.downloaded
        for r in task.rows:
            r.update(bytes=got.bytes, sha256=got.sha256)
            if got.offset_s is not None:
                r["offset_s"] = got.offset_s

    def _section(self, task: Task) -> tuple[float, float] | None:
        """The annotated range to fetch alone, when asked and when one range covers the task."""
        rows = task.pending
        if not self.options.fetch.download_sections or any(r["start_s"] is None for r in rows):
            return None
        return (min(r["start_s"] for r in rows), max(r["end_s"] for r in rows))
