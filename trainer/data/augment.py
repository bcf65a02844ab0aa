"""Spatial augmentation of decoded pretraining clips (in numpy/torch on the CPU), and turning a
batch of uint8 views into model input."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406])
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225])
SCALES = (1.0, 0.875, 0.75, 0.66)


def multiscale_crop(h: int, w: int, rng: np.random.Generator, max_distort: int = 1) -> tuple[int, int, int, int]:
    """A crop (top, left, height, width) whose sides are scales of the short side, the two
    scales at most `max_distort` steps apart (VideoMAE's multi-scale crop)."""
    base = min(h, w)
    sizes = [int(base * s) for s in SCALES]
    pairs = [(ch, cw) for i, ch in enumerate(sizes) for j, cw in enumerate(sizes) if abs(i - j) <= max_distort]
    ch, cw = pairs[int(rng.integers(len(pairs)))]
    return int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1)), ch, cw


def crop_resize(frames: np.ndarray, box: tuple[int, int, int, int], size: int) -> torch.Tensor:
    """(T, H, W, C) uint8 -> (C, T, size, size) uint8. Views stay uint8 until the training
    step: a quarter of the bytes to move from loader workers, and normalizing is cheap there."""
    top, left, ch, cw = box
    x = torch.from_numpy(np.ascontiguousarray(frames[:, top : top + ch, left : left + cw]))
    x = x.permute(0, 3, 1, 2).float()  # (T, C, h, w)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x.round_().clamp_(0, 255).to(torch.uint8).permute(1, 0, 2, 3).contiguous()


def to_model_input(video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, T, H, W) uint8 -> (ImageNet-normalized input, pixels in [0, 1] for the targets)."""
    pixels = video.float().div_(255)
    shape = (1, 3, 1, 1, 1)
    return (pixels - IMAGENET_MEAN.to(pixels).view(shape)) / IMAGENET_STD.to(pixels).view(shape), pixels
