"""Captioned samples for the video-language stage: videos (.mp4) or images (.jpg, one-frame clips),
each with one of its captions tokenized. Training takes the pretraining stream's shuffle, resume
and per-sample seeds, one random frame per segment (UMT's sampling; dense sampling works too), a
random resized crop (0.5–1) and flip shared by the frames, and one caption drawn from the
sample's; evaluation takes every sample once in order, the middle frame of each segment (or the
middle clip), a centre crop and all its captions.

A caption id says which samples are the same media: samples with the same id (one clip's several
captions in a batch) are soft positives of each other in the contrastive loss, never negatives.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Iterator

import numpy as np
from torch.utils.data import IterableDataset

from manifests.pictures import SNIFF_BYTES, picture_format, refused_picture
from trainer.data.captions import Tokenizer
from trainer.data.config import DataConfig
from trainer.data.decode import DecodeError
from trainer.data.labeled import my_shards
from trainer.data.sampling import sample_stride, training_indices
from trainer.data.stream import BadShards, PretrainStream, StreamState
from trainer.data.tars import tar_samples
from trainer.data.video_augment import ClipAugment
from trainer.data.views import crop_views, view_indices

log = logging.getLogger(__name__)
CROP_SCALE = (0.5, 1.0)  # UMT's stage-2 random resized crop


def captions_of(sample: dict) -> list[str]:
    """A sample's captions: the list in its .json row, else its .txt; [] when it has none."""
    row = sample.get("json")
    if row is not None:
        try:
            doc = json.loads(row)
        except ValueError:
            doc = {}
        found = doc.get("captions") if isinstance(doc, dict) else None
        if isinstance(found, list) and all(isinstance(c, str) for c in found) and any(c.strip() for c in found):
            return [c for c in found if c.strip()]
        if isinstance(doc, dict) and isinstance(doc.get("caption"), str) and doc["caption"].strip():
            return [doc["caption"]]
    text = sample.get("txt")
    return [text.decode("utf-8", "replace")] if isinstance(text, bytes) and text.strip() else []


def caption_id(key: str) -> int:
    """A stable 63-bit id of a sample's key (the same in every worker and run)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") >> 1


def decode_image(data: bytes, max_pixels: int) -> np.ndarray:
    """(1, H, W, 3) uint8 frames of a picture member in one of the formats vmae decodes (told from
    its bytes, manifests/pictures.py); a bad, refused or oversized one is a DecodeError."""
    from PIL import Image

    if refused := refused_picture(data):
        raise DecodeError(refused)
    try:
        with Image.open(io.BytesIO(data), formats=[picture_format(data[:SNIFF_BYTES])]) as image:
            if image.width * image.height > max_pixels:
                raise DecodeError(f"{image.width}x{image.height} pixels, over the cap of {max_pixels}")
            return np.array(image.convert("RGB"))[None]  # a writable copy
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise DecodeError(f"not a readable image ({e})") from e


def media_frames(sample: dict, cfg: DataConfig, rng: np.random.Generator | None) -> np.ndarray | None:
    """(T, H, W, C) frames of a video as the run samples them (segments: one per segment, random
    with `rng`, else the middle; dense: from a random start, else the middle clip) or (1, H, W, C)
    of an image; None for a video too short for dense sampling."""
    if "jpg" in sample:
        return decode_image(sample["jpg"], cfg.max_pixels)
    if "mp4" not in sample:
        raise DecodeError("neither a .mp4 nor a .jpg member")
    video = cfg.open_video(sample["mp4"])
    if video.frames < 1:
        raise DecodeError("no frames")
    stride = sample_stride(sample, cfg.stride)
    idx = (training_indices(video.frames, cfg, rng, stride) if rng is not None
           else view_indices(video.frames, cfg, 1, stride)[0])
    return None if idx is None else video.get(idx)


class CaptionedStream(PretrainStream):
    """Training samples: {"video": (C, T, S, S) uint8 (T = 1 for an image), "ids", "keep",
    "caption_id", and the stream's position}."""

    def __init__(self, urls: list[str], cfg: DataConfig, tokenizer: Tokenizer, rank: int = 0, world: int = 1,
                 state: StreamState | None = None, worker_offset: int = 0, flip: bool = True):
        super().__init__(urls, cfg, None, rank, world, state)
        self.tokenizer, self.worker_offset = tokenizer, worker_offset
        self.augment = ClipAugment(cfg.img_size, CROP_SCALE, flip, "")

    def _decode(self, sample: dict, rng: np.random.Generator) -> np.ndarray | None:
        if not captions_of(sample):
            return None  # a sample without a caption teaches nothing here: counted as skipped
        try:
            return media_frames(sample, self.cfg, rng)
        except DecodeError as e:
            log.warning("skipping %s: cannot decode (%s)", sample.get("__key__"), e)
            return None

    def _views(self, sample: dict, frames: np.ndarray, rng: np.random.Generator) -> list[dict]:
        captions = captions_of(sample)
        ids, keep = self.tokenizer([captions[int(rng.integers(len(captions)))]])
        return [{"video": self.augment(frames, int(rng.integers(2**62))), "ids": ids[0], "keep": keep[0],
                 "caption_id": caption_id(sample["__key__"])}]


class RetrievalStream(IterableDataset):
    """Every sample once, in order: {"key", "video": (C, T, S, S) uint8 or None, "captions"}; shards
    split between ranks and loader workers without overlap."""

    def __init__(self, urls: list[str], cfg: DataConfig, rank: int = 0, world: int = 1):
        self.urls, self.cfg, self.rank, self.world = urls, cfg, rank, world

    def __iter__(self) -> Iterator[dict]:
        for sample in tar_samples(my_shards(self.urls, self.rank, self.world), BadShards(), self.cfg.max_member_bytes):
            item = {"key": sample["__key__"], "captions": captions_of(sample), "video": None}
            try:
                frames = media_frames(sample, self.cfg, None)
                item["video"] = None if frames is None else crop_views(frames[None], self.cfg.img_size, 1)[0]
            except DecodeError as e:
                log.warning("skipping %s: cannot decode (%s)", sample.get("__key__"), e)
            yield item
