"""Training augmentation of a labeled clip, the same for every frame of it (VideoMAE V2's
fine-tuning recipe): random resized crop, horizontal flip, RandAugment. torchvision's v2
transforms draw their parameters once per call and apply them to every frame of a Video."""

from __future__ import annotations

import re

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from trainer.errors import ConfigError

_RAND_AUGMENT = re.compile(r"^n(\d+)-m(\d+)$")


def rand_augment(spec: str) -> v2.Transform | None:
    """'n4-m7': 4 ops of magnitude 7 on timm's 0..10 scale; '' for none."""
    if not spec:
        return None
    m = _RAND_AUGMENT.match(spec)
    if not m or int(m.group(2)) > 10:
        raise ConfigError(f"rand_augment '{spec}': write nN-mM with M in 0..10 (e.g. n4-m7), or '' for none")
    return v2.RandAugment(num_ops=int(m.group(1)), magnitude=int(m.group(2)), num_magnitude_bins=11)


class ClipAugment:
    def __init__(self, size: int, scale: tuple[float, float], flip: bool, rand_augment_spec: str):
        steps: list[v2.Transform] = [v2.RandomResizedCrop(size, scale=scale, ratio=(3 / 4, 4 / 3), antialias=True)]
        if flip:
            steps.append(v2.RandomHorizontalFlip())
        ra = rand_augment(rand_augment_spec)
        if ra is not None:
            steps.append(ra)
        self.transform = v2.Compose(steps)

    def __call__(self, frames: np.ndarray, seed: int) -> torch.Tensor:
        """(T, H, W, C) uint8 -> (C, T, size, size) uint8; the same seed gives the same view."""
        video = tv_tensors.Video(torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2))
        with torch.random.fork_rng(devices=[]):  # leave the caller's generator as it was
            torch.manual_seed(seed)
            out = self.transform(video)
        return out.as_subclass(torch.Tensor).permute(1, 0, 2, 3).contiguous()
