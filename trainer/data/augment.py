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


def crop(frames: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """(T, H, W, C) uint8 -> the box's (T, h, w, C): a view of the pixels a view needs, copied once,
    into the batch (collate_crops), when views are resized on the training device."""
    top, left, ch, cw = box
    return frames[:, top : top + ch, left : left + cw]


def resize_crop(cropped: torch.Tensor, size: int) -> torch.Tensor:
    """(T, h, w, C) uint8 -> (C, T, size, size) uint8, on whatever device `cropped` is on. Views
    stay uint8 until the training step: a quarter of the bytes to move, and normalizing is cheap
    there; rounding here also makes views resized on a GPU equal those of a loader worker."""
    x = cropped.permute(0, 3, 1, 2).float()  # (T, C, h, w)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x.round_().clamp_(0, 255).to(torch.uint8).permute(1, 0, 2, 3).contiguous()


def crop_resize(frames: np.ndarray, box: tuple[int, int, int, int], size: int) -> torch.Tensor:
    """(T, H, W, C) uint8 -> (C, T, size, size) uint8: the box, resized."""
    return resize_crop(torch.from_numpy(np.ascontiguousarray(crop(frames, box))), size)


def collate_crops(crops: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Unresized crops of several sizes as one flat uint8 tensor and their (N, 4) shapes. In a
    loader worker the tensor is made in shared memory (as torch's default_collate makes its
    batches), so each crop is copied once on its way to the training process, and a batch is
    one transfer to the device."""
    from torch.utils.data import get_worker_info

    sizes = [c.size for c in crops]
    total = sum(sizes)
    if get_worker_info() is not None:
        flat = torch.empty(0, dtype=torch.uint8).set_(torch.UntypedStorage._new_shared(total))
    else:
        flat = torch.empty(total, dtype=torch.uint8)
    into = flat.numpy()
    start = 0
    for c, n in zip(crops, sizes, strict=True):
        into[start : start + n].reshape(c.shape)[...] = c
        start += n
    return flat, torch.tensor([c.shape for c in crops], dtype=torch.int64)


def resize_views(batch: dict, size: int, device: torch.device) -> dict:
    """A batch of unresized views (`crops`, `crop_shapes`: from a loader that left the resizing to
    the training device) with `video` made from them on `device`."""
    if "crops" not in batch:
        return batch
    flat = batch["crops"].to(device, non_blocking=True)
    shapes = batch["crop_shapes"].tolist()
    starts = np.cumsum([0, *(int(np.prod(s)) for s in shapes)])
    pieces = zip(starts[:-1], starts[1:], shapes, strict=True)
    video = torch.stack([resize_crop(flat[a:b].view(*s), size) for a, b, s in pieces])
    return {**{k: v for k, v in batch.items() if k not in ("crops", "crop_shapes")}, "video": video}


def to_model_input(video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, T, H, W) uint8 -> (ImageNet-normalized input, pixels in [0, 1] for the targets)."""
    pixels = video.float().div_(255)
    shape = (1, 3, 1, 1, 1)
    return (pixels - IMAGENET_MEAN.to(pixels).view(shape)) / IMAGENET_STD.to(pixels).view(shape), pixels
