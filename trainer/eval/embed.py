"""`vmae embed`: one feature vector per clip, written as Parquet. From a classifier or a
pretraining checkpoint: the mean of the encoder's tokens, normalized, averaged over views. From a
video-language checkpoint: the clip's embedding in the shared video-text space, or with `text`
each caption's (one row per caption)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from manifests.atomic import atomic_path
from trainer import checkpoint
from trainer.data.shards import resolve_shards
from trainer.errors import ConfigError
from trainer.eval.evaluate import Collected, collect, data_config_of
from trainer.eval.retrieval import embed
from trainer.eval.search import video_language_model
from trainer.models.families import VIDEO_LANGUAGE


def embed_corpus(shards: list[str], ckpt_path: str, out: Path, clips: int = 1, crops: int = 1, batch_size: int = 8,
                 workers: int | None = None, model: str | None = None, progress: bool = True,
                 decoder: str | None = None, decode_device: str | None = None, text: bool = False) -> Collected:
    ckpt = checkpoint.read(ckpt_path)
    data = data_config_of(ckpt, workers=workers, decoder=decoder, decode_device=decode_device)
    urls, _ = resolve_shards(shards)
    if ckpt.family is VIDEO_LANGUAGE:
        return _shared_space(ckpt_path, urls, data, out, batch_size, text, progress)
    if text:
        raise ConfigError(f"{ckpt.path} is a {ckpt.kind} checkpoint: it has no text tower; --text needs a "
                          "video-language one ('vmae train vlpretrain')")
    # a classifier's trunk, or the encoder of a pretraining checkpoint, pooled as a classifier pools it
    net = checkpoint.new_classifier(ckpt, ckpt.classes or 1, model)
    checkpoint.load_weights(net, ckpt, list(range(ckpt.classes)) if ckpt.classes else None)
    net.eval()
    with torch.inference_mode():
        result = collect(net.features, urls, data, clips, crops, batch_size, torch.device("cpu"), labeled=False,
                         progress=progress, desc="embed", reduce="mean")
    _write(out, {"clip_key": result.keys}, result.values)
    return result


def _shared_space(ckpt_path: str, urls: list[str], data, out: Path, batch_size: int, text: bool,
                  progress: bool) -> Collected:
    """The clips' (or their captions') embeddings in the video-text space: one middle frame per
    segment, centre crop, as retrieval sees them."""
    _, model, tokenizer = video_language_model(ckpt_path)
    emb = embed(model, urls, data, tokenizer, batch_size, progress=progress, captioned=text)
    if text:
        keys = [emb.keys[v] for v in emb.owner]
        _write(out, {"clip_key": keys, "caption": emb.captions}, emb.text.float().numpy())
        return Collected(keys, np.full(len(keys), -1), emb.text.float().numpy(), [])
    _write(out, {"clip_key": emb.keys}, emb.video.float().numpy())
    return Collected(emb.keys, np.full(len(emb.keys), -1), emb.video.float().numpy(), [])


def _write(out: Path, columns: dict, values: np.ndarray) -> None:
    table = pa.table({**columns, "embedding": pa.FixedSizeListArray.from_arrays(
        pa.array(values.astype(np.float32).ravel()), values.shape[1])})
    with atomic_path(out) as tmp:
        pq.write_table(table, tmp)
