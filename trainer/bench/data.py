"""The data part of `vmae bench`: how fast one worker decodes the corpus' clips with each backend,
and how fast the training loader of the stage an objective belongs to feeds one device at 1, 2,
4, ... workers (its own stream: tar reading, decode, sampling, augmentation, masks, captions,
collation)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import torch

from trainer.bench.setup import BenchOptions
from trainer.data.config import DataConfig
from trainer.data.decode import Video
from trainer.data.sampling import sample_stride, training_indices
from trainer.data.stream import StreamState, loader_for, make_loader
from trainer.errors import DataError

# The bench's captions are tokenized with BERT's special tokens alone (every word is [UNK]): the
# run's real vocabulary is not needed to time the loader, and a word piece costs next to nothing.
BENCH_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def read_clips(urls: list[str], clips: int) -> list[dict]:
    """The first `clips` video samples of the shards ({"mp4", "json"}: the clip and its row), in
    memory, as a loader worker reads them."""
    from manifests.tars import members

    samples: dict[str, dict] = {}
    for url in urls:
        with open(url, "rb") as f:
            for member, payload in members(f, url, max_bytes=1 << 30):
                key, _, ext = member.name.rpartition(".")
                if payload is not None and ext in ("mp4", "json"):
                    samples.setdefault(key, {})[ext] = payload
                videos = [s for s in samples.values() if "mp4" in s]
                if len(videos) >= clips:
                    return videos
    return [s for s in samples.values() if "mp4" in s]


def decode_rate(videos: list[dict], data: DataConfig, backend: str, device: str) -> float:
    """Clips/s of one process decoding the clips from memory with one thread, the frames a
    training sample takes."""
    if not videos:
        return 0.0
    rng = np.random.default_rng(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a loader worker
    try:
        _decode_one(videos[0], data, backend, device, rng)  # loading the library is start-up
        start = time.perf_counter()
        for v in videos:
            _decode_one(v, data, backend, device, rng)
        return len(videos) / (time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)


def _decode_one(sample: dict, data: DataConfig, backend: str, device: str, rng: np.random.Generator) -> None:
    video = Video(sample["mp4"], backend, device)
    indices = training_indices(video.frames, data, rng, sample_stride(sample, data.stride))
    if indices is not None:  # too short for dense sampling: the stream skips it too
        video.get(indices)


def stage_loader(opts: BenchOptions, cfg, urls: list[str], workers: int) -> tuple[Iterator[dict], str]:
    """The training loader of `cfg`'s stage over `urls` with `workers` workers (decoding with the
    first backend, on --decode-device), and a note when it is not quite the run's."""
    data = replace(cfg.data, workers=workers, decoder=opts.decoders[0], decode_device=opts.decode_device,
                   shuffle_buffer=16)
    if opts.objective == "vl":
        from trainer.data.captioned import CaptionedStream
        from trainer.data.captions import Tokenizer

        stream = CaptionedStream(urls, data, Tokenizer(BENCH_VOCAB, cfg.vl.max_tokens), 0, 1, StreamState(),
                                 flip=cfg.flip)
        return iter(loader_for(stream, opts.batch_size)), ""
    if opts.objective == "supervised":
        labeled, note = _labeled(opts)
        if labeled:
            from trainer.data.labeled import LabeledStream
            from trainer.data.video_augment import ClipAugment

            augment = ClipAugment(data.img_size, cfg.crop_scale, cfg.flip, cfg.rand_augment)
            return iter(loader_for(LabeledStream(urls, data, augment), opts.batch_size)), ""
        return iter(make_loader(urls, data, opts.batch_size)), note
    from trainer.stages.pretrain import mask_spec

    return iter(make_loader(urls, data, opts.batch_size, mask_spec(cfg))), ""


def _labeled(opts: BenchOptions) -> tuple[bool, str]:
    """Whether the corpora have labels for the supervised loader; else why the unlabeled one is
    measured instead."""
    from trainer.data.labeled import corpus_labels

    try:
        corpus_labels(list(opts.shards))
    except DataError:
        return False, ("the corpus has no labels: the loader measured is the pretraining one at the fine-tuning "
                       "frames, without the labeled loader's augmentations (RandAugment, two views per clip)")
    return True, ""


def loader_rate(loader: Iterator[dict], batches: int = 6) -> float:
    """Samples/s over `batches` batches after the first (the workers' start-up is not steady state)."""
    next(loader)
    start = time.perf_counter()
    done = 0
    for _ in range(batches):
        try:
            batch = next(loader)
            done += len(batch["video" if "video" in batch else "crop_shapes"])
        except StopIteration:
            break
    return done / (time.perf_counter() - start) if done else 0.0
