"""The training data stream: WebDataset shards → shuffle → decode (from memory) → frames
(dense or segment sampling) → views (multi-scale crop, resize) each with its own masks.

Deterministic and resumable: a worker's raw stream (shard order, shuffle buffer) depends only
on the seed, rank and worker, and each sample's random choices on (seed, rank, worker, sample
index). A resumed run replays the raw stream without decoding up to where it stopped, so it
sees exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, default_collate, get_worker_info

from manifests.children import keep_current_folder_off_child_paths
from trainer.data.augment import collate_crops, crop, crop_resize, multiscale_crop
from trainer.data.config import DataConfig
from trainer.data.decode import FALLBACKS, DecodeError
from trainer.data.masking import MaskSpec
from trainer.data.sampling import sample_stride, training_indices
from trainer.data.shards import shards_for
from trainer.data.tars import tar_samples
from trainer.errors import DataError

log = logging.getLogger(__name__)

# This many unusable samples in a row means the data cannot feed this run at all: stop with a
# message instead of looping over the shards forever.
MAX_CONSECUTIVE_SKIPS = 1000


@dataclass
class StreamState:
    """How far each logical worker's stream was consumed: (raw sample index, view)."""

    batches: int = 0
    positions: dict[int, tuple[int, int]] = field(default_factory=dict)


class BadShards:
    """Shards that could not be read to their end (cut, corrupt, gone), in one worker: counted, the
    rest of the shard skipped, and the first few logged (a corpus of bad shards must not flood
    the log)."""

    LOGGED = 20

    def __init__(self):
        self.count = 0
        self.last: Exception | None = None

    def __call__(self, exn: Exception) -> bool:
        self.count, self.last = self.count + 1, exn
        if self.count <= self.LOGGED:
            log.warning("skipping the rest of a shard: %s%s", exn,
                        "; further bad shards are only counted" if self.count == self.LOGGED else "")
        return True  # go on with the next shard


def _raw_samples(urls: list[str], cfg: DataConfig, rank: int, world: int, worker: int, workers: int,
                 bad: BadShards) -> Iterator[dict]:
    epoch = 0
    while True:
        mine = shards_for(urls, rank, world, worker, workers, epoch, cfg.seed)
        seen = 0
        for sample in tar_samples(mine, bad, cfg.max_member_bytes):
            seen += 1
            yield sample
        if not seen:  # a whole pass over this reader's shards gave nothing: it never will
            raise DataError(f"none of the {len(mine)} shards this loader worker reads gave a sample ({bad.count} "
                            f"could not be read; the last: {bad.last}). Check them with 'vmae manifests validate'")
        epoch += 1


def _shuffled(samples: Iterator[dict], size: int, rng: np.random.Generator) -> Iterator[dict]:
    buffer: list[dict] = []
    for s in samples:
        if len(buffer) < size:
            buffer.append(s)
            continue
        k = int(rng.integers(size))
        yield buffer[k]
        buffer[k] = s
    while buffer:
        yield buffer.pop(int(rng.integers(len(buffer))))


class PretrainStream(IterableDataset):
    """Views of unlabeled clips: {"video": (C, T, S, S) uint8, plus the masks of `masks`}."""

    # logical workers are numbered from here in what the stream yields (streams that feed one run
    # side by side keep their positions apart); its state's positions are by the stream's own numbers
    worker_offset = 0

    def __init__(self, urls: list[str], cfg: DataConfig, masks: MaskSpec | None = None, rank: int = 0,
                 world: int = 1, state: StreamState | None = None):
        self.urls, self.cfg, self.masks, self.rank, self.world = urls, cfg, masks or MaskSpec(), rank, world
        self.state = state or StreamState()
        # decided here, in the training process: a worker may not look at the GPU
        self.resize_in_loader = not cfg.resizes_on_device

    def _decode(self, sample: dict, rng: np.random.Generator) -> np.ndarray | None:
        """(T, H, W, C) uint8 frames, or None when the clip cannot be used."""
        data = sample.get("mp4")
        if data is None:
            return None
        try:
            video = self.cfg.open_video(data)
            idx = training_indices(video.frames, self.cfg, rng, sample_stride(sample, self.cfg.stride))
            return None if idx is None else video.get(idx)
        except DecodeError as e:
            log.warning("skipping %s: cannot decode (%s)", sample.get("__key__"), e)
            return None

    def _views(self, sample: dict, frames: np.ndarray, rng: np.random.Generator) -> list[dict]:
        """The training views of one decoded clip: here crops with their masks (each crop resized,
        or left for the training device to resize: `crops`); subclasses make others."""
        out = []
        for _ in range(self.cfg.num_views):
            box = multiscale_crop(frames.shape[1], frames.shape[2], rng)
            masks = {k: torch.from_numpy(v) for k, v in self.masks.make(self.cfg, rng).items()}
            view = {"video": crop_resize(frames, box, self.cfg.img_size)} if self.resize_in_loader \
                else {"crops": crop(frames, box)}
            out.append({**view, **masks})
        return out

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        physical, workers = (info.id, info.num_workers) if info else (0, 1)
        # The loader takes batches from workers in turn; after a resume, rotate the workers so
        # that the next batch comes from the same logical stream as it would have.
        worker = (physical + self.state.batches) % workers
        last_index, last_view = self.state.positions.get(worker, (-1, -1))
        order_rng = np.random.default_rng([self.cfg.seed, self.rank, worker, 7])
        bad = BadShards()
        raw = _shuffled(_raw_samples(self.urls, self.cfg, self.rank, self.world, worker, workers, bad),
                        self.cfg.shuffle_buffer, order_rng)
        skipped = in_a_row = 0
        for index, sample in enumerate(raw):
            if index < last_index:
                continue  # consumed before the resume: replayed without decoding
            rng = np.random.default_rng([self.cfg.seed, self.rank, worker, index])
            frames = self._decode(sample, rng)
            if frames is None:
                skipped, in_a_row = skipped + 1, in_a_row + 1
                if in_a_row >= MAX_CONSECUTIVE_SKIPS:
                    raise DataError(f"{in_a_row} samples in a row could not be used: clips shorter than "
                                    f"{self.cfg.frames} frames at stride {self.cfg.stride}, or not decodable. "
                                    "Lower --frames/--stride or check the corpus with 'vmae manifests validate'.")
                continue
            in_a_row = 0
            for view, item in enumerate(self._views(sample, frames, rng)):
                if (index, view) <= (last_index, last_view):
                    continue
                yield {**item, "worker": worker + self.worker_offset, "index": index, "view": view, "skipped": skipped,
                       "bad_shards": bad.count, "decode_fallbacks": FALLBACKS.count}


def make_loader(urls: list[str], cfg: DataConfig, batch_size: int, masks: MaskSpec | None = None, rank: int = 0,
                world: int = 1, state: StreamState | None = None) -> DataLoader:
    return loader_for(PretrainStream(urls, cfg, masks, rank, world, state), batch_size)


def loader_for(stream: PretrainStream, batch_size: int) -> DataLoader:
    workers = stream.cfg.workers
    # pinned batches: the copy to a GPU runs while the step before it computes
    return DataLoader(stream, batch_size=batch_size, num_workers=workers, persistent_workers=workers > 0,
                      prefetch_factor=4 if workers else None, multiprocessing_context=worker_context(stream.cfg),
                      collate_fn=collate_views, pin_memory=torch.cuda.is_available())


def collate_views(items: list[dict]) -> dict:
    """A batch of views; unresized crops (of several sizes) packed into one tensor, for the device
    to resize (trainer/data/augment.py: resize_views)."""
    if "crops" not in items[0]:
        return default_collate(items)
    batch = default_collate([{k: v for k, v in it.items() if k != "crops"} for it in items])
    batch["crops"], batch["crop_shapes"] = collate_crops([it["crops"] for it in items])
    return batch


def worker_context(cfg: DataConfig) -> str | None:
    """Loader workers that decode on a GPU are spawned: CUDA cannot be used in a forked child of a
    process that has already used it (the trainer has)."""
    if not (cfg.workers and cfg.decode_device == "cuda" and torch.cuda.is_available()):
        return None
    keep_current_folder_off_child_paths()
    return "spawn"


def advance(state: StreamState, batch: dict) -> None:
    """Record that `batch` was consumed (for checkpoints)."""
    state.batches += 1
    for w, i, v in zip(batch["worker"].tolist(), batch["index"].tolist(), batch["view"].tolist(), strict=True):
        if (i, v) > state.positions.get(w, (-1, -1)):
            state.positions[w] = (i, v)
