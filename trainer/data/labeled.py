"""Data for the supervised stages and for evaluation.

LabeledStream: the pretraining stream (deterministic, resumable, shared shuffle) with augmented
views and the .cls label instead of masks. ViewStream: one pass over a corpus in order, each
clip cut into the multi-view test views (clips × crops), for validation, `vmae eval` and
`vmae embed`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from manifests.labels.label_list import read_label_list
from manifests.layout import CorpusLayout
from trainer.data.config import DataConfig
from trainer.data.decode import DecodeError
from trainer.data.sampling import sample_stride
from trainer.data.stream import BadShards, PretrainStream, StreamState, worker_context
from trainer.data.tars import tar_samples
from trainer.data.video_augment import ClipAugment
from trainer.data.views import crop_views, view_indices
from trainer.errors import DataError

log = logging.getLogger(__name__)


def corpus_labels(specs: list[str]) -> list[str] | None:
    """The class names of the corpora named (their labels.txt, which must agree), or None when a
    spec is a URL pattern (labels then come from the .cls members alone)."""
    found: dict[str, list[str]] = {}
    for spec in specs:
        layout = CorpusLayout.at(spec)
        if not Path(spec).is_dir():
            return None
        if not layout.labels_txt.is_file():
            raise DataError(f"{spec} has no labels (no labels.txt): it is an unlabeled corpus. Supervised training "
                            "and evaluation need a labeled one (a source with a label column, kinetics, ssv2, or "
                            "'vmae corpus mix' of labeled corpora)")
        found[spec] = read_label_list(layout.labels_txt)
    if len({tuple(v) for v in found.values()}) > 1:
        raise DataError(f"the corpora {sorted(found)} have different labels.txt; mix them into one labeled corpus "
                        "first ('vmae corpus mix')")
    return next(iter(found.values()))


def label_of(sample: dict) -> int:
    data = sample.get("cls")
    if data is None:
        raise DataError(f"sample {sample.get('__key__')} in {sample.get('__url__')} has no .cls label: the shards "
                        "are unlabeled; supervised stages and eval need a labeled corpus")
    return int(data)


class LabeledStream(PretrainStream):
    """Augmented views of labeled clips: {"video": (C, T, S, S) uint8, "label": int, ...}."""

    def __init__(self, urls: list[str], cfg: DataConfig, augment: ClipAugment, rank: int = 0, world: int = 1,
                 state: StreamState | None = None):
        super().__init__(urls, cfg, None, rank, world, state)
        self.augment = augment

    def _views(self, sample: dict, frames: np.ndarray, rng: np.random.Generator) -> list[dict]:
        label = label_of(sample)
        return [{"video": self.augment(frames, int(rng.integers(2**62))), "label": label}
                for _ in range(self.cfg.num_views)]


class ViewStream(IterableDataset):
    """Every clip of the shards once, in order, as (clips·crops) test views; shards are split
    between ranks and loader workers without overlap."""

    def __init__(self, urls: list[str], cfg: DataConfig, clips: int = 1, crops: int = 1, rank: int = 0,
                 world: int = 1, labeled: bool = True):
        self.urls, self.cfg, self.clips, self.crops = urls, cfg, clips, crops
        self.rank, self.world, self.labeled = rank, world, labeled

    def __iter__(self) -> Iterator[dict]:
        for sample in tar_samples(my_shards(self.urls, self.rank, self.world), BadShards(), self.cfg.max_member_bytes):
            label = label_of(sample) if self.labeled else -1
            try:
                if "mp4" not in sample:
                    raise DecodeError("no .mp4 member")
                video = self.cfg.open_video(sample["mp4"])
                stride = sample_stride(sample, self.cfg.stride)
                frames = video.get(view_indices(video.frames, self.cfg, self.clips, stride))
            except DecodeError as e:
                log.warning("skipping %s: cannot decode (%s)", sample.get("__key__"), e)
                yield {"key": sample["__key__"], "label": label, "views": None}
                continue
            yield {"key": sample["__key__"], "label": label, "views": crop_views(frames, self.cfg.img_size, self.crops)}


def my_shards(urls: list[str], rank: int, world: int) -> list[str]:
    """This rank's and loader worker's share of the shards in a one-pass read (none read twice)."""
    info = get_worker_info()
    worker, workers = (info.id, info.num_workers) if info else (0, 1)
    return urls[rank * workers + worker::world * workers]


def collate_list(items: list[dict]) -> list[dict]:
    return items  # clips may fail to decode (views None): the consumer counts them


def view_loader(stream: ViewStream, batch_size: int) -> DataLoader:
    workers = stream.cfg.workers
    return DataLoader(stream, batch_size=batch_size, num_workers=workers, collate_fn=collate_list,
                      prefetch_factor=4 if workers else None, multiprocessing_context=worker_context(stream.cfg))


def stack_views(items: list[dict]) -> tuple[torch.Tensor, list[dict]]:
    """The decodable items' views as one (N·views, C, T, S, S) batch, and those items."""
    good = [it for it in items if it["views"] is not None]
    if not good:
        return torch.empty(0), []
    return torch.cat([it["views"] for it in good]), good
