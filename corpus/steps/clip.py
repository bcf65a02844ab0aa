"""clip: cut each row's range (fixed windows of it, or its shots) out of the fetched file,
re-encode, and compute signature and motion score in the same pass."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from corpus.errors import InputError, StepError
from corpus.media.encode import Encoding, encode_clip
from corpus.media.shots import detect_cuts, shot_clips
from corpus.options import CLIP, MediaOptions
from corpus.steps.base import Step, Task
from corpus.storage import STORAGE_PROFILES, described_profiles
from manifests.options import option
from manifests.sample import clip_key

# A cut that decodes to less than this share of its requested length means damaged data.
MIN_DECODED_SHARE = 0.8
MAX_WINDOWS = 100_000  # per row: a day of video in one-second windows is a tenth of that
_EPS = 1e-3


@dataclass(frozen=True)
class ClipOptions:
    """How each row's range becomes clips: one cut, fixed windows or shots, and how they are encoded."""

    storage: str = option("full", f"Store clips for a training recipe: {described_profiles()}. --fps, --gop and "
                                  "--fast-decode given win over the profile's.", output=True, flag="--for",
                          panel=CLIP)
    fps: float | None = option(None, "Output frame rate (default: the source's).", output=True, panel=CLIP)
    gop: int | None = option(None, "A keyframe every this many frames (default: x264's, up to 250); a short "
                                   "GOP makes a random window cheap to reach.", output=True, panel=CLIP)
    fast_decode: bool = option(False, "x264 tuned for decoding speed (no CABAC, no deblocking): about 1.8x "
                                      "faster to decode, 10-35% larger.", output=True, panel=CLIP)
    crf: int = option(23, "x264 quality (lower is better).", output=True, panel=CLIP)
    preset: str = option("veryfast", "x264 speed preset.", output=True, panel=CLIP)
    min_seconds: float = option(0.5, "Shorter clips fail as too_short.", output=True, panel=CLIP)
    # windows: cut each video (or its annotated range) into fixed windows instead of one clip
    clip_seconds: float | None = option(None, "Cut fixed windows of this many seconds.", output=True, panel=CLIP)
    window_frames: int | None = option(None, "Cut fixed windows of this many frames (AVA: 300).", output=True,
                                       panel=CLIP)
    stride_s: float | None = option(None, "Seconds between window starts (default: window length).", output=True,
                                    flag="--stride", panel=CLIP)
    # shots: clips follow shot boundaries; shorter shots than min_seconds merge, longer than max_seconds are cut
    split: str = option("range", "range: the row's range (or windows of it); shots: clips follow shot boundaries "
                                 "(movies, web, youtube).", output=True, panel=CLIP)
    max_seconds: float | None = option(None, "--split shots: cut longer shots into equal pieces.", output=True,
                                       panel=CLIP)
    shot_threshold: float = option(3.0, "--split shots: how far above its rolling average a frame's change must "
                                        "jump to cut (lower finds more cuts).", output=True, panel=CLIP)

    def __post_init__(self):
        if self.storage not in STORAGE_PROFILES:
            raise InputError(f"--for {self.storage!r}: choose one of {', '.join(STORAGE_PROFILES)}")
        if self.gop is not None and self.gop < 1:
            raise InputError(f"--gop {self.gop}: a keyframe every 1 frame or more")
        if self.split not in ("range", "shots"):
            raise InputError(f"--split {self.split!r}: choose range or shots")
        if self.clip_seconds is not None and self.window_frames is not None:
            raise InputError("give --clip-seconds or --window-frames, not both")
        if self.split == "shots" and (self.clip_seconds is not None or self.window_frames is not None):
            raise InputError("--split shots cuts at shot boundaries: drop --clip-seconds/--window-frames "
                             "(use --max-seconds to cut long shots)")
        if self.split == "shots" and self.max_seconds is not None and self.max_seconds < 2 * self.min_seconds:
            raise InputError(f"--max-seconds {self.max_seconds:g} must be at least twice --min-seconds "
                             f"({self.min_seconds:g}) so that the pieces of a long shot are not too short")


def windows(start: float, end: float, fps: float, opts: ClipOptions) -> list[tuple[float, float]]:
    """[start, end) as one cut, or as fixed windows when the options ask for them. A tail shorter
    than a window is dropped, as AVA-style fixed-length clips require."""
    if opts.clip_seconds is None and opts.window_frames is None:
        return [(start, end)]
    length = opts.clip_seconds or opts.window_frames / (opts.fps or fps)
    stride = opts.stride_s or length
    count = math.floor((end - start - length) / stride + _EPS) + 1 if end - start + _EPS >= length else 0
    if count > MAX_WINDOWS:  # counted before any is listed
        raise StepError("too_long", f"{end - start:,.0f} s in windows of {length:g} s every {stride:g} s would be "
                        f"{count:,} clips; at most {MAX_WINDOWS:,} per row")
    return [(start + k * stride, start + k * stride + length) for k in range(count)]


class Clip(Step):
    name = "clip"
    Options = ClipOptions
    reads = ("media",)  # the short side, and whether audio is kept
    options: ClipOptions

    def __init__(self, options: ClipOptions, media: MediaOptions) -> None:
        super().__init__(options, media=media)
        self.encoding = Encoding(media.short_side, options.fps, options.crf, options.preset, media.keep_audio,
                                 options.gop, options.fast_decode)

    def process(self, task: Task) -> Counter:
        task.make_workdir()
        return self.each_row(task, lambda row: self._clip_row(task, row))

    def _cuts(self, task: Task, row: dict) -> list[tuple[float, float, float | None, float | None]]:
        """Cuts in the file's own time (the file may start at offset_s of the original video), as
        (start, end, shot_start, shot_end); the shot's bounds only when clips follow shots."""
        opts, info = self.options, task.info
        offset = row["offset_s"] or 0.0
        lo = 0.0 if row["start_s"] is None else max(0.0, row["start_s"] - offset)
        hi = info["duration_s"] if row["end_s"] is None else min(info["duration_s"], row["end_s"] - offset)
        if hi - lo < opts.min_seconds:
            raise StepError("too_short", f"only {max(0.0, hi - lo):.2f} s of video in the requested range "
                            f"(the file lasts {info['duration_s']:.2f} s; at least {opts.min_seconds:g} s needed)")
        if opts.split == "shots":
            cuts = detect_cuts(task.file, lo, hi, info["fps"], opts.shot_threshold, opts.min_seconds)
            return shot_clips(lo, hi, cuts, opts.min_seconds, opts.max_seconds)
        cuts = windows(lo, hi, info["fps"], opts)
        if not cuts:
            raise StepError("too_short", f"{hi - lo:.2f} s is shorter than one window")
        return [(a, b, None, None) for a, b in cuts]

    def _clip_row(self, task: Task, row: dict) -> None:
        """Every clip of one row, or none: its clips join the task only once all are made."""
        offset = row["offset_s"] or 0.0
        made = []
        for lo, hi, shot_lo, shot_hi in self._cuts(task, row):
            key = clip_key(row["source"], row["video_id"], lo + offset, hi + offset)
            enc = encode_clip(task.file, lo, hi - lo, Path(task.workdir) / f"{key}.mp4", task.info,
                              self.encoding)
            if enc.duration_s < MIN_DECODED_SHARE * (hi - lo):
                raise StepError("corrupt", f"decoded only {enc.duration_s:.2f} s of the {hi - lo:.2f} s cut "
                                f"at {lo:.2f} s: the file is truncated or damaged")
            made.append(task.clip_of(
                row, file=str(enc.path), clip_key=key, start_s=lo + offset, end_s=hi + offset,
                duration_s=enc.duration_s, fps=enc.fps, source_fps=task.info["fps"], frames=enc.frames,
                width=enc.width, height=enc.height, bytes=enc.bytes, sha256=enc.sha256, signature=enc.signature,
                signature_views=enc.signature_views, signature_masked=enc.signature_masked,
                media="video", motion=enc.motion, **enc.quality,
                shot_start_s=None if shot_lo is None else shot_lo + offset,
                shot_end_s=None if shot_hi is None else shot_hi + offset,
            ))
        task.clips += made
        row.update(status="ok", clips=len(made))
