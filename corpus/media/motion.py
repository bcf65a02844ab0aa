"""How much a clip moves, from the small gray frames its signature is computed from (no
extra decode): the mean absolute change of gray level (0-255) between frames a quarter of a
second apart, over the whole clip, borders trimmed. A title card or a slide scores near 0
(only encoder noise); a camera pan or a moving subject scores several units to tens."""

from __future__ import annotations

import numpy as np

from corpus.media.signature import trim_borders

GAP_S = 0.25  # seconds between the frames compared: independent of the sampling rate


def motion_score(frames: np.ndarray, rate: float) -> float:
    """(n, h, w) gray frames sampled at `rate` per second -> the clip's motion score."""
    if len(frames) < 2:
        return 0.0
    f = trim_borders(frames.astype(np.float32))
    gap = min(max(1, round(rate * GAP_S)), len(f) - 1)
    return float(np.abs(f[gap:] - f[:-gap]).mean())
