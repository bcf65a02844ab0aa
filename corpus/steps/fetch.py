"""fetch: bring the task's file to local disk (HTTP, yt-dlp, or a local path), with retries
and exponential backoff plus jitter for transient errors only."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from corpus import ytdlp
from corpus.errors import StepError
from corpus.sources import get_source
from corpus.sources.base import FETCH_HTTP
from corpus.steps import http_download
from corpus.steps.base import Step, Task
from manifests.sample import safe_id

T = TypeVar("T")


def with_retries(attempt: Callable[[], T], retries: int, backoff_s: float, on_try: Callable[[], None]) -> T:
    """Call `attempt` until it succeeds, it fails permanently, or retries run out."""
    for n in range(retries + 1):
        on_try()
        try:
            return attempt()
        except StepError as e:
            if not e.transient or n == retries:
                raise
            # Full jitter: spreads the retries of many workers hitting one server.
            time.sleep(random.uniform(0, backoff_s * 2**n))
    raise AssertionError("unreachable")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Fetch(Step):
    name = "fetch"

    def process(self, task: Task) -> None:
        row = task.rows[0]
        if row["path"]:
            path = Path(row["path"])
            if not path.is_file():
                raise StepError("not_found", f"local file {path} does not exist")
            self._record(task, path, path.stat().st_size, file_sha256(path), downloaded=False)
            return
        fopts = self.options.fetch
        workdir = Path(task.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        stem = safe_id(row["video_id"])

        def count_try():
            for r in task.pending:
                r["attempts"] = (r["attempts"] or 0) + 1

        if get_source(self.options.source).fetcher == FETCH_HTTP:
            path, size, sha = with_retries(lambda: http_download.download(row["url"], workdir / stem, fopts),
                                           fopts.retries, fopts.backoff_s, count_try)
        else:
            section = self._section(task)
            path = with_retries(
                lambda: ytdlp.download(row["url"], workdir, stem, fopts,
                                       keep_audio=self.options.clip.keep_audio, section=section),
                fopts.retries, fopts.backoff_s, count_try)
            if section is not None:
                for r in task.rows:
                    r["offset_s"] = section[0]
            size, sha = path.stat().st_size, file_sha256(path)
        self._record(task, path, size, sha, downloaded=True)

    def _section(self, task: Task) -> tuple[float, float] | None:
        """The annotated range to fetch alone, when asked and when one range covers the task."""
        rows = task.pending
        if not self.options.fetch.download_sections or any(r["start_s"] is None for r in rows):
            return None
        return (min(r["start_s"] for r in rows), max(r["end_s"] for r in rows))

    @staticmethod
    def _record(task: Task, path: Path, size: int, sha: str, downloaded: bool) -> None:
        task.file, task.downloaded = str(path), downloaded
        for r in task.rows:
            r.update(bytes=size, sha256=sha)
