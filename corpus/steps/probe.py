"""probe: ffprobe the fetched file, and hold what its header claims against the caps before any
work is planned from it: a 200 KB file whose header claims four billion seconds, a frame rate of
a million or 65536 x 65536 pixels fails here (too_long, too_large, corrupt) instead of being cut
into billions of windows or decoded into gigabytes. Files that are not videos fail as not_video,
empty, truncated or undecodable ones as corrupt."""

from __future__ import annotations

import os

from corpus.errors import StepError
from corpus.media.probe import probe_file
from corpus.options import MediaOptions
from corpus.steps.base import Step, Task

MAX_FPS = 1000.0  # above this a frame rate is a damaged or crafted header
# Fewer bytes than this per second of claimed duration: no real encoding is that small (a still
# frame in H.264 costs more), so the header lies about the duration.
MIN_BYTES_PER_SECOND = 16


class Probe(Step):
    name = "probe"
    reads = ("media",)  # the caps on what a header may claim
    media: MediaOptions

    def process(self, task: Task) -> None:
        task.info = probe_file(task.file)
        check_claims(task.info, os.path.getsize(task.file), self.media)
        for r in task.rows:
            r.update({k: task.info[k] for k in ("duration_s", "fps", "width", "height", "codec")})


def check_claims(info: dict, size: int, opts: MediaOptions) -> None:
    """Refuse a header whose duration, frame rate or frame size is beyond the caps or beyond belief."""
    duration, fps, pixels = info["duration_s"], info["fps"], info["width"] * info["height"]
    if fps > MAX_FPS:
        raise StepError("corrupt", f"the header claims {fps:g} frames per second (at most {MAX_FPS:g} is plausible)")
    if pixels > opts.max_pixels:
        raise StepError("too_large", f"{info['width']}x{info['height']} frames are over the cap of "
                        f"{opts.max_pixels:,} pixels (--max-pixels)")
    if duration > opts.max_duration_s:
        raise StepError("too_long", f"the header claims {duration:,.0f} s, over the cap of "
                        f"{opts.max_duration_s:,.0f} s (--max-duration)")
    if size < MIN_BYTES_PER_SECOND * duration:
        raise StepError("corrupt", f"the header claims {duration:,.0f} s for {size:,} bytes "
                        f"({size / duration:.2f} bytes/s): a damaged or crafted header")
