"""Perceptual clip signatures: a fixed number of 64-bit DCT hashes (pHash) of small grayscale
frames spread evenly over the clip (DESIGN.md §4). Dedup compares signatures alone."""

from __future__ import annotations

import numpy as np

from manifests.schemas import SIGNATURE_HASHES

FRAME_SIDE = 32  # frames are scaled to 32x32 grayscale by ffmpeg before hashing
_LOW = 8  # the 8x8 lowest-frequency DCT coefficients make the 64 bits


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


_D = _dct_matrix(FRAME_SIDE)
_BIT_WEIGHTS = (1 << np.arange(63, -1, -1, dtype=np.uint64)).astype(np.uint64)


def phash(frames: np.ndarray) -> np.ndarray:
    """(K, 32, 32) grayscale frames -> (K,) uint64 hashes. A bit is set where the coefficient
    is above the median of the block (DC excluded from the median: it only encodes brightness)."""
    x = frames.astype(np.float64)
    coeffs = _D @ x @ _D.T  # (K, 32, 32) 2-D DCT-II
    low = coeffs[:, :_LOW, :_LOW].reshape(len(frames), -1)
    median = np.median(low[:, 1:], axis=1, keepdims=True)
    bits = (low > median).astype(np.uint64)
    return (bits * _BIT_WEIGHTS).sum(axis=1, dtype=np.uint64)


def pick_evenly(frames: np.ndarray, count: int = SIGNATURE_HASHES) -> np.ndarray:
    """Exactly `count` frames spread over the clip (repeating frames of very short clips)."""
    idx = np.linspace(0, len(frames) - 1, count).round().astype(int)
    return frames[idx]


def signature_from_raw(raw: bytes, count: int = SIGNATURE_HASHES) -> list[int]:
    """Signature of a clip from the raw gray frames ffmpeg wrote (32x32 bytes each)."""
    size = FRAME_SIDE * FRAME_SIDE
    n = len(raw) // size
    if n == 0:
        raise ValueError("no frames to hash")
    frames = np.frombuffer(raw[: n * size], dtype=np.uint8).reshape(n, FRAME_SIDE, FRAME_SIDE)
    return [int(h) for h in phash(pick_evenly(frames, count))]


def hamming(a: list[int], b: list[int]) -> int:
    """Total Hamming distance between two signatures."""
    return sum(int(x ^ y).bit_count() for x, y in zip(a, b, strict=True))
