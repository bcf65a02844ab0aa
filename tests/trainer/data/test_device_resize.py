"""Pixel work on the training device: loader workers that only decode and crop (data.resize_on
device) give, once the training process resizes their crops, the very views a worker that
resizes them itself gives, on the same frames and seed. Run on the CPU here; on a GPU the same
code runs there."""

from __future__ import annotations

from dataclasses import replace
from itertools import islice

import pytest
import torch

from trainer.data.augment import resize_views
from trainer.data.config import DataConfig
from trainer.data.masking import MaskSpec
from trainer.data.shards import resolve_shards
from trainer.data.stream import make_loader
from trainer.errors import ConfigError

CFG = DataConfig(frames=4, stride=2, img_size=32, patch=16, tubelet=2, workers=0, shuffle_buffer=4, num_views=3)


def batches(corpus, cfg: DataConfig, count: int = 2) -> list[dict]:
    urls, _ = resolve_shards([str(corpus)])
    return list(islice(iter(make_loader(urls, cfg, 4, MaskSpec("tube", 0.75))), count))


def test_views_resized_on_the_device_equal_those_resized_by_the_loader(tiny_unlabeled):
    by_loader = batches(tiny_unlabeled, replace(CFG, resize_on="loader"))
    by_device = batches(tiny_unlabeled, replace(CFG, resize_on="device", workers=1))  # crops cross processes
    shapes = torch.cat([b["crop_shapes"] for b in by_device])
    assert len({tuple(s) for s in shapes.tolist()}) > 1 and (shapes[:, 0] == CFG.frames).all()  # several sizes
    for mine, theirs in zip(by_loader, by_device, strict=True):
        assert "video" not in theirs and theirs["crops"].dtype == torch.uint8
        assert theirs["crops"].numel() == theirs["crop_shapes"].prod(dim=1).sum()  # one flat tensor per batch
        resized = resize_views(theirs, CFG.img_size, torch.device("cpu"))
        assert torch.equal(resized["video"], mine["video"]) and resized["video"].dtype == torch.uint8
        assert torch.equal(resized["hidden"], mine["hidden"])
        assert resized["index"].tolist() == mine["index"].tolist()


def test_each_decoded_clip_gives_num_views_views(tiny_unlabeled):
    batch = batches(tiny_unlabeled, replace(CFG, resize_on="loader"), 3)
    index = torch.cat([b["index"] for b in batch]).tolist()
    view = torch.cat([b["view"] for b in batch]).tolist()
    video = torch.cat([b["video"] for b in batch])
    assert view[:9] == [0, 1, 2] * 3 and index[:9] == [index[0]] * 3 + [index[3]] * 3 + [index[6]] * 3
    assert len(set(index[:9])) == 3
    assert not torch.equal(video[0], video[1])  # each view its own crop


def test_an_unknown_place_to_resize_is_refused():
    with pytest.raises(ConfigError, match="resize_on"):
        DataConfig(resize_on="gpu")
