"""Perceptual clip signatures: a fixed number of 64-bit DCT hashes (pHash) over time
(DESIGN.md §4). Dedup compares signatures alone, without decoding video again.

ffmpeg hands over small grayscale frames sampled a few times a second. Before hashing (each
choice measured in bench/near_dup_quality.py; see docs/dedup.md):
- dark uniform borders (letterbox, pillarbox) are trimmed, so a letterboxed re-upload hashes
  like the original;
- frames are averaged over overlapping windows around each of the K hash points, so the same
  video cut a fraction of a second earlier or later gives nearly the same hashes;
- the frame is weighted by a sine window that fades its edges, where crops cut and logos sit
  (a corner logo made two different videos hash 38 bits apart without it, 106 with it);
- the 64 bits are the lowest frequencies in zigzag order (those move least under a crop or a
  rescale) rather than an 8x8 square.

A global hash of the whole picture misses copies whose picture moved or changed in part, so a
clip keeps more signatures than its whole frame's (the figures behind each are in docs/dedup.md):
- views (`signature_views`), each compared with every other clip's whole signature: the centre
  at 92% and 85% of each side, a 90% corner at each corner, 85% of the width or the height
  against each side (a re-upload cropped that way matches the original's view, not its whole
  frame, whose low frequencies a crop moves), and the clip one hash interval later (a copy
  trimmed at its start by about that much);
- masked pictures (`signature_masked`), each compared with the same mask of every other clip:
  the top and the bottom quarter blanked to the picture's mean, where logos, watermarks and
  burned-in captions sit (the original and the copy then hash alike).

Version 3 (SIGNATURE_VERSION): a corpus records it in build.json, and dedup refuses to compare
signatures of two versions.
"""

from __future__ import annotations

import numpy as np

from manifests.schemas import SIGNATURE_HASHES

SAMPLE_SIDE = 64  # ffmpeg scales sampled frames to 64x64 gray (enough to find borders)
SAMPLE_FPS = 4.0  # frames per second handed to the signature (at least 3 per window)
HASH_SIDE = 32  # pHash works on 32x32
SIGNATURE_VERSION = 3
# The views' crops: (share of the rows, share of the columns, where they sit vertically and
# horizontally: 0 top or left, 0.5 centre, 1 bottom or right).
CROPS = ((0.92, 0.92, 0.5, 0.5), (0.85, 0.85, 0.5, 0.5),
         (0.9, 0.9, 0, 0), (0.9, 0.9, 0, 1), (0.9, 0.9, 1, 0), (0.9, 0.9, 1, 1),
         (1.0, 0.85, 0.5, 0), (1.0, 0.85, 0.5, 1), (0.85, 1.0, 0, 0.5), (0.85, 1.0, 1, 0.5))
TIME_SHIFTS = (1.0,)  # the views shifted later in time, in hash intervals
# The masks' bands, as (top, bottom, left, right) shares of the picture.
MASKS = ((0.0, 0.25, 0.0, 1.0), (0.75, 1.0, 0.0, 1.0))
_DARK = 24  # border rows/columns darker than this (0-255), and nearly uniform, are trimmed
_MAX_TRIM = 0.3  # never trim more than this share of a side


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


def _zigzag(n: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of the `count` lowest-frequency DCT coefficients after DC, by kx + ky."""
    order = sorted(((i, j) for i in range(n) for j in range(n)), key=lambda p: (p[0] + p[1], p[0]))[1 : count + 1]
    return np.array([p[0] for p in order]), np.array([p[1] for p in order])


def _edge_window(n: int) -> np.ndarray:
    w = np.sin(np.pi * (np.arange(n) + 0.5) / n)
    return np.outer(w, w)


_D = _dct_matrix(HASH_SIDE)
_LOW_ROWS, _LOW_COLS = _zigzag(HASH_SIDE, 64)
_WINDOW = _edge_window(HASH_SIDE)
_BIT_WEIGHTS = (1 << np.arange(63, -1, -1, dtype=np.uint64)).astype(np.uint64)


def phash(frames: np.ndarray) -> np.ndarray:
    """(K, 32, 32) grayscale frames -> (K,) uint64 hashes. A bit is set where its coefficient is
    above the median of the 64 (DC is left out: it only encodes brightness)."""
    x = frames.astype(np.float64)
    x = (x - x.mean(axis=(1, 2), keepdims=True)) * _WINDOW
    coeffs = _D @ x @ _D.T  # (K, 32, 32) 2-D DCT-II
    low = coeffs[:, _LOW_ROWS, _LOW_COLS]
    bits = (low > np.median(low, axis=1, keepdims=True)).astype(np.uint64)
    return (bits * _BIT_WEIGHTS).sum(axis=1, dtype=np.uint64)


def _border(profile_mean: np.ndarray, profile_std: np.ndarray) -> tuple[int, int]:
    """How many leading and trailing entries of a row/column profile are dark, uniform border."""
    dark = (profile_mean < _DARK) & (profile_std < 8)
    limit = int(len(dark) * _MAX_TRIM)
    lead = int(np.argmin(dark)) if not dark.all() else 0
    trail = int(np.argmin(dark[::-1])) if not dark.all() else 0
    # Where a bar was found, drop one more line: area scaling blends the bar's edge into it.
    lead, trail = lead + (lead > 0), trail + (trail > 0)
    return min(lead, limit), min(trail, limit)


def border_sizes(frames: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) rows and columns of letterbox/pillarbox bars in the mean frame."""
    mean = frames.mean(axis=0)
    top, bottom = _border(mean.mean(axis=1), mean.std(axis=1))
    left, right = _border(mean.mean(axis=0), mean.std(axis=0))
    return top, bottom, left, right


def trim_borders(frames: np.ndarray) -> np.ndarray:
    """Cut away letterbox/pillarbox bars found in the mean frame."""
    top, bottom, left, right = border_sizes(frames)
    h, w = frames.shape[1:]
    return frames[:, top : h - bottom, left : w - right]


def resize(frames: np.ndarray, side: int = HASH_SIDE) -> np.ndarray:
    """Bilinear resize of (n, h, w) frames to (n, side, side)."""
    n, h, w = frames.shape
    ys = np.clip((np.arange(side) + 0.5) * h / side - 0.5, 0, h - 1)
    xs = np.clip((np.arange(side) + 0.5) * w / side - 0.5, 0, w - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (ys - y0)[None, :, None], (xs - x0)[None, None, :]
    top = frames[:, y0][:, :, x0] * (1 - fx) + frames[:, y0][:, :, x1] * fx
    bot = frames[:, y1][:, :, x0] * (1 - fx) + frames[:, y1][:, :, x1] * fx
    return top * (1 - fy) + bot * fy


def windowed_means(frames: np.ndarray, count: int = SIGNATURE_HASHES, shift: float = 0.0) -> np.ndarray:
    """`count` averages of overlapping windows (two hash intervals wide) centred on evenly
    spaced points of the clip, `shift` intervals later (a window past the end keeps what is left)."""
    n = len(frames)
    centers = (np.arange(count) + 0.5 + shift) * n / count
    half = max(n / count, 0.5)
    out = []
    for c in centers:
        lo = min(max(0, int(np.floor(c - half))), n - 1)
        hi = max(min(n, int(np.ceil(c + half))), lo + 1)
        out.append(frames[lo:hi].mean(axis=0))
    return np.stack(out)


def signatures(frames: np.ndarray, count: int = SIGNATURE_HASHES) -> tuple[list[int], list[int], list[int]]:
    """A clip's signature, its views' and its masked pictures' (each list one signature after the
    other, in the order of CROPS, TIME_SHIFTS and MASKS), from its (n, h, w) sampled gray frames."""
    if len(frames) == 0:
        raise ValueError("no frames to hash")
    if len(frames) == 1 and count > 1:  # a picture: every window is the frame itself, and so is every hash
        return tuple([h for h in hashes for _ in range(count)] for hashes in signatures(frames, 1))
    trimmed = trim_borders(frames.astype(np.float32))
    means = windowed_means(trimmed, count)
    views = [phash(resize(crop(means, *spec))) for spec in CROPS]
    views += [phash(resize(windowed_means(trimmed, count, shift))) for shift in TIME_SHIFTS]
    masked = [phash(resize(blank(means, *band))) for band in MASKS]
    return _ints([phash(resize(means))]), _ints(views), _ints(masked)


def _ints(arrays: list[np.ndarray]) -> list[int]:
    return [int(h) for hashes in arrays for h in hashes]


def crop(frames: np.ndarray, rows: float, columns: float, at_y: float, at_x: float) -> np.ndarray:
    """A `rows` x `columns` share of each of (n, h, w) frames, placed at (at_y, at_x) (0: top or
    left, 1: bottom or right)."""
    h, w = frames.shape[1:]
    ch, cw = max(1, round(h * rows)), max(1, round(w * columns))
    top, left = round((h - ch) * at_y), round((w - cw) * at_x)
    return frames[:, top : top + ch, left : left + cw]


def blank(frames: np.ndarray, top: float, bottom: float, left: float, right: float) -> np.ndarray:
    """(n, h, w) frames with a band (shares of the sides) set to the mean of the rest of each."""
    h, w = frames.shape[1:]
    band = np.zeros((h, w), bool)
    band[int(top * h) : int(np.ceil(bottom * h)), int(left * w) : int(np.ceil(right * w))] = True
    out = frames.copy()
    out[:, band] = frames[:, ~band].mean(axis=1)[:, None]
    return out


def frames_from_raw(raw: bytes, width: int = SAMPLE_SIDE, height: int = SAMPLE_SIDE) -> np.ndarray:
    """The (n, height, width) uint8 gray frames ffmpeg wrote as raw bytes."""
    size = width * height
    n = len(raw) // size
    if n == 0:
        raise ValueError("no frames to hash")
    return np.frombuffer(raw[: n * size], dtype=np.uint8).reshape(n, height, width)


def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights: each output cell is the mean of the input it covers (partial
    pixels by their share), as ffmpeg's area scaling does."""
    edges = np.arange(n_out + 1) * n_in / n_out
    lo, hi = edges[:-1, None], edges[1:, None]
    pixel = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, pixel + 1) - np.maximum(lo, pixel), 0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def area_resize(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """(n, h, w) frames scaled to (n, height, width) by area averaging, as uint8."""
    rows, cols = _area_matrix(frames.shape[1], height), _area_matrix(frames.shape[2], width)
    out = np.einsum("ih,nhw,jw->nij", rows, frames.astype(np.float32), cols, optimize=True)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)

