"""probe: ffprobe the fetched file; empty, truncated, undecodable or non-video files become
failed rows with error_kind corrupt."""

from __future__ import annotations

from corpus.media.probe import probe_file
from corpus.steps.base import Step, Task


class Probe(Step):
    name = "probe"

    def process(self, task: Task) -> None:
        task.info = probe_file(task.file)
        for r in task.rows:
            r.update({k: task.info[k] for k in ("duration_s", "fps", "width", "height", "codec")})
