"""Which frames of a decoded clip make a sample: dense (VideoMAE: `frames` frames `stride` apart
from a random start) or segments (UMT, TSN: the clip cut into `frames` equal parts, one frame from
each, random when training and the middle when testing)."""

from __future__ import annotations

import numpy as np

from trainer.data.config import Geometry


def dense_indices(total: int, count: int, stride: int, rng: np.random.Generator) -> np.ndarray | None:
    """`count` frames `stride` apart from a random start; None when the clip is too short."""
    span = (count - 1) * stride + 1
    if total < span:
        return None
    start = int(rng.integers(0, total - span + 1))
    return start + np.arange(count) * stride


def segment_indices(total: int, count: int, rng: np.random.Generator | None = None,
                    position: float = 0.5) -> np.ndarray:
    """One frame in each of `count` equal parts of the clip: at a random place in its part, or at
    `position` (0..1) of it when no rng is given. Short clips repeat frames."""
    edges = np.linspace(0, total, count + 1)
    where = rng.random(count) if rng is not None else np.full(count, position)
    return np.minimum(np.floor(edges[:-1] + where * np.diff(edges)).astype(np.int64), total - 1)


def training_indices(total: int, geometry: Geometry, rng: np.random.Generator) -> np.ndarray | None:
    """The frames of one training sample; None when the clip is too short for dense sampling."""
    if geometry.sampling == "segments":
        return segment_indices(total, geometry.frames, rng) if total > 0 else None
    return dense_indices(total, geometry.frames, geometry.stride, rng)
