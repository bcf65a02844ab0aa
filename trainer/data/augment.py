"""Spatial augmentation of decoded pretraining clips, and turning a batch of uint8 views into model
input. A loader worker picks each view's crop; the resize runs there too, or on the training
device (data.resize_on), with the same code and the same result."""

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


def crop(frames: np.ndarray, box: tuple[int, int, int, int]) -> torch.Tensor:
    """(T, H, W, C) uint8 -> the box's (T, h, w, C) uint8: a copy of the pixels a view needs, which
    is all a loader worker ships when views are resized on the training device."""
    top, left, ch, cw = box
    return torch.from_numpy(np.ascontiguousarray(frames[:, top : top + ch, left : left + cw]))


def resize_crop(cropped: torch.Tensor, size: int) -> torch.Tensor:
    """(T, h, w, C) uint8 -> (C, T, size, size) uint8, on whatever device `cropped` is on. Views
    stay uint8 until the training step: a quarter of the bytes to move, and normalizing is cheap
    there; rounding here also makes views resized on a GPU equal those of a loader worker."""
    x = cropped.permute(0, 3, 1, 2).float()  # (T, C, h, w)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x.round_().clamp_(0, 255).to(torch.uint8).permute(1, 0, 2, 3).contiguous()


def crop_resize(frames: np.ndarray, box: tuple[int, int, int, int], size: int) -> torch.Tensor:
    """(T, H, W, C) uint8 -> (C, T, size, size) uint8: the box, resized."""
    return resize_crop(crop(frames, box), size)


def resize_views(batch: dict, size: int, device: torch.device) -> dict:
    """A batch of unresized views (`crops`: a list of (T, h, w, C) uint8, from a loader that left
    the resizing to the training device) with `video` made from them on `device`."""
    if "crops" not in batch:
        return batch
    video = torch.stack([resize_crop(c.to(device, non_blocking=True), size) for c in batch["crops"]])
    return {**{k: v for k, v in batch.items() if k != "crops"}, "video": video}


def to_model_input(video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, T, H, W) uint8 -> (ImageNet-normalized input, pixels in [0, 1] for the targets)."""
    pixels = video.float().div_(255)
    shape = (1, 3, 1, 1, 1)
    return (pixels - IMAGENET_MEAN.to(pixels).view(shape)) / IMAGENET_STD.to(pixels).view(shape), pixels
