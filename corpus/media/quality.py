"""Quality signals of a clip (manifests/quality.py says what each means), computed on the frames
the clip's one ffmpeg pass already samples for its signature (4 or more a second, gray, 144 px
high; the signature's 64x64 frames are scaled down from them): frozen and bars on the small
ones, sharpness and overlay on the 144 px ones. No second decode."""

from __future__ import annotations

import numpy as np

from corpus.media.signature import border_sizes

DETAIL_HEIGHT = 144  # rows of the frames sharpness and overlay are measured on
_FROZEN_LEVEL = 0.5  # mean gray-level change below which two sampled frames are the same picture
_EDGE_LEVEL = 48.0  # gray levels across one pixel that make a strong edge at 144 px
_STAYS = 0.9  # an edge present in this share of the frames stays put
_CHANGES = 0.5  # mean change (gray levels) of the sampled frames above which the picture is not still


def detail_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) of the detail frames: 144 px high, the width even, aspect kept."""
    return max(2, round(DETAIL_HEIGHT * width / height / 2) * 2), DETAIL_HEIGHT


def frozen_share(sampled: np.ndarray) -> float:
    """Share of successive sampled frames that show the same picture."""
    if len(sampled) < 2:
        return 1.0
    change = np.abs(np.diff(sampled.astype(np.float32), axis=0)).mean(axis=(1, 2))
    return float(np.mean(change < _FROZEN_LEVEL))


def bars_share(sampled: np.ndarray) -> tuple[float, tuple[float, float, float, float]]:
    """Share of the area in bars, and the bars as shares of each side (top, bottom, left, right)."""
    top, bottom, left, right = border_sizes(sampled.astype(np.float32))
    h, w = sampled.shape[1:]
    kept = (h - top - bottom) * (w - left - right) / (h * w)
    return float(1.0 - kept), (top / h, bottom / h, left / w, right / w)


def _inside(frames: np.ndarray, bars: tuple[float, float, float, float]) -> np.ndarray:
    """The frames without their bars (found on the signature's frames, as shares of each side)."""
    h, w = frames.shape[1:]
    top, bottom, left, right = bars
    return frames[:, round(top * h) : h - round(bottom * h), round(left * w) : w - round(right * w)]


def sharpness(detail: np.ndarray) -> float:
    """Median over frames of the mean absolute Laplacian."""
    f = detail.astype(np.float32)
    lap = 4 * f[:, 1:-1, 1:-1] - f[:, :-2, 1:-1] - f[:, 2:, 1:-1] - f[:, 1:-1, :-2] - f[:, 1:-1, 2:]
    return float(np.median(np.abs(lap).mean(axis=(1, 2))))


def overlay_share(detail: np.ndarray) -> float:
    """Share of pixels that are a strong edge in nearly every frame while the picture changes."""
    f = detail.astype(np.float32)
    if len(f) < 2 or np.abs(np.diff(f, axis=0)).mean() < _CHANGES:
        return 0.0
    gx = np.abs(np.diff(f, axis=2))[:, :-1, :]
    gy = np.abs(np.diff(f, axis=1))[:, :, :-1]
    strong = np.maximum(gx, gy) > _EDGE_LEVEL
    return float(np.mean(strong.mean(axis=0) >= _STAYS))


def quality_signals(sampled: np.ndarray, detail: np.ndarray) -> dict[str, float]:
    """sampled: the signature's (n, 64, 64) gray frames; detail: (m, 144, W) gray frames."""
    bars, sides = bars_share(sampled)
    inner = _inside(detail, sides)
    if inner.shape[1] < 3 or inner.shape[2] < 3:  # all bars: nothing left to measure
        inner = detail
    return {"frozen": frozen_share(sampled), "bars": bars, "sharpness": sharpness(inner),
            "overlay": overlay_share(inner)}

