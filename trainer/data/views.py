"""Cutting a decoded video into the multi-view test views: each video is resized so its short
side is the model's input size, then cut into `clips` temporal views spread evenly over it and
`crops` spatial crops along its long side (left/centre/right, or top/centre/bottom). With dense
sampling a temporal view is a window of frames `stride` apart; with segment sampling it takes one
frame from each segment, at a different place in the segments for each view."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from trainer.data.config import Geometry
from trainer.data.sampling import offsets, segment_indices


def temporal_starts(total: int, frames: int, stride: float, clips: int) -> list[int]:
    """Starts of `clips` windows of frames·stride spread evenly from the first to the last
    possible start (a clip shorter than one window gives start 0 and repeats its last frame)."""
    last = max(0, total - (int(offsets(frames, stride)[-1]) + 1))
    return [round(last * k / (clips - 1)) if clips > 1 else last // 2 for k in range(clips)]


def spatial_offsets(long_side: int, size: int, crops: int) -> list[int]:
    """Offsets of `crops` crops of `size` along the long side: evenly from one end to the other."""
    last = long_side - size
    return [round(last * k / (crops - 1)) if crops > 1 else last // 2 for k in range(crops)]


def clip_indices(total: int, frames_per_clip: int, stride: float, clips: int) -> np.ndarray:
    """(clips, frames_per_clip) frame numbers of the temporal windows (past the end: the last frame)."""
    starts = np.array(temporal_starts(total, frames_per_clip, stride, clips))
    return np.minimum(starts[:, None] + offsets(frames_per_clip, stride), total - 1)


def view_indices(total: int, geometry: Geometry, clips: int, stride: float | None = None) -> np.ndarray:
    """(clips, frames) frame numbers of the temporal views of a clip of `total` frames; `stride`:
    the clip's own (trainer/data/sampling.py: clip_stride), default the geometry's."""
    if geometry.sampling == "segments":
        return np.stack([segment_indices(total, geometry.frames, position=(k + 0.5) / clips) for k in range(clips)])
    return clip_indices(total, geometry.frames, geometry.stride if stride is None else stride, clips)


def crop_views(clips: np.ndarray, size: int, crops: int) -> torch.Tensor:
    """(clips, F, H, W, C) uint8 -> (clips·crops, C, F, size, size) uint8: short side resized to
    `size`, then `crops` crops along the long side; clip-major."""
    n, f, h, w, _ = clips.shape
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    x = torch.from_numpy(clips.reshape(n * f, h, w, 3)).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
    x = x.round_().clamp_(0, 255).to(torch.uint8).view(n, f, 3, nh, nw)
    out = []
    for clip in x:
        for off in spatial_offsets(max(nh, nw), size, crops):
            crop = clip[:, :, off : off + size, :size] if nh >= nw else clip[:, :, :size, off : off + size]
            out.append(crop.permute(1, 0, 2, 3))
    return torch.stack(out)
