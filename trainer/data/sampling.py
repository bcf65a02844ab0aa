"""Which frames of a decoded clip make a sample: dense (VideoMAE: `frames` frames `stride` apart
from a random start) or segments (UMT, TSN: the clip cut into `frames` equal parts, one frame from
each, random when training and the middle when testing).

A dense stride counts frames of the video the clip was cut from. A corpus stored at a lower rate
than its sources (`vmae corpus build --for pretrain`: 7.5 fps) records both rates in each clip's
row, and the stride is read in stored frames there (`clip_stride`): a 30 fps source at stride 4
and its 7.5 fps copy at stride 1 show the same seconds."""

from __future__ import annotations

import json
import logging

import numpy as np

from trainer.data.config import Geometry

log = logging.getLogger(__name__)
_warned_sparse = False


def clip_stride(stride: int, row: dict | None) -> float:
    """The stride in this clip's own frames: `stride` frames of its source at the source's rate
    (the row's source_fps), read at the rate it is stored at (its fps). Rows without both rates
    (images, corpora built before they were recorded) keep `stride`. A clip stored too sparsely
    for the stride (under one stored frame apart) is read at stride 1, with one warning."""
    global _warned_sparse
    fps, source_fps = (row or {}).get("fps"), (row or {}).get("source_fps")
    if not fps or not source_fps:
        return float(stride)
    step = stride * fps / source_fps
    if abs(step - round(step)) < 0.01 * step:
        step = float(round(step))  # 29.97 fps stored at 7.5: one frame apart, not 1.001
    if step < 1:
        if not _warned_sparse:
            _warned_sparse = True
            log.warning("clips stored at %g fps are too sparse for stride %d at their source's %g fps: reading "
                        "consecutive frames (the sample spans more seconds than the stride asks)", fps, stride,
                        source_fps)
        return 1.0
    return step


def sample_stride(sample: dict, stride: int) -> float:
    """`clip_stride` of a shard sample, from its .json member (the clip's manifest row)."""
    data = sample.get("json")
    if data is None:
        return float(stride)
    try:
        row = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return float(stride)
    return clip_stride(stride, row if isinstance(row, dict) else None)


def offsets(count: int, stride: float) -> np.ndarray:
    """Frame offsets of `count` frames `stride` apart (a fractional stride rounds each offset)."""
    return np.round(np.arange(count) * stride).astype(np.int64)


def dense_indices(total: int, count: int, stride: float, rng: np.random.Generator) -> np.ndarray | None:
    """`count` frames `stride` apart from a random start; None when the clip is too short."""
    span = int(offsets(count, stride)[-1]) + 1
    if total < span:
        return None
    start = int(rng.integers(0, total - span + 1))
    return start + offsets(count, stride)


def segment_indices(total: int, count: int, rng: np.random.Generator | None = None,
                    position: float = 0.5) -> np.ndarray:
    """One frame in each of `count` equal parts of the clip: at a random place in its part, or at
    `position` (0..1) of it when no rng is given. Short clips repeat frames."""
    edges = np.linspace(0, total, count + 1)
    where = rng.random(count) if rng is not None else np.full(count, position)
    return np.minimum(np.floor(edges[:-1] + where * np.diff(edges)).astype(np.int64), total - 1)


def training_indices(total: int, geometry: Geometry, rng: np.random.Generator,
                     stride: float | None = None) -> np.ndarray | None:
    """The frames of one training sample; None when the clip is too short for dense sampling.
    `stride`: this clip's own (`clip_stride`), default the geometry's."""
    if geometry.sampling == "segments":
        return segment_indices(total, geometry.frames, rng) if total > 0 else None
    return dense_indices(total, geometry.frames, geometry.stride if stride is None else stride, rng)
