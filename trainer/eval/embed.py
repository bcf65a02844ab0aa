"""`vmae embed`: one pooled feature vector per clip (mean of the encoder's tokens, normalized;
averaged over views) from a classifier or a pretraining checkpoint, written as Parquet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from manifests.atomic import atomic_path
from trainer import checkpoint
from trainer.data.shards import resolve_shards
from trainer.eval.evaluate import Collected, collect, data_config_of


def embed_corpus(shards: list[str], ckpt_path: str, out: Path, clips: int = 1, crops: int = 1, batch_size: int = 8,
                 workers: int | None = None, model: str | None = None, progress: bool = True,
                 decoder: str | None = None, decode_device: str | None = None) -> Collected:
    ckpt = checkpoint.read(ckpt_path)
    data = data_config_of(ckpt, workers=workers, decoder=decoder, decode_device=decode_device)
    # a classifier's trunk, or the encoder of a pretraining checkpoint, pooled as a classifier pools it
    net = checkpoint.new_classifier(ckpt, ckpt.classes or 1, model)
    checkpoint.load_weights(net, ckpt, list(range(ckpt.classes)) if ckpt.classes else None)
    net.eval()
    urls, _ = resolve_shards(shards)
    with torch.inference_mode():
        result = collect(net.features, urls, data, clips, crops, batch_size, torch.device("cpu"), labeled=False,
                         progress=progress, desc="embed", reduce="mean")
    table = pa.table({"clip_key": result.keys,
                      "embedding": pa.FixedSizeListArray.from_arrays(
                          pa.array(result.values.astype(np.float32).ravel()), result.values.shape[1])})
    with atomic_path(out) as tmp:
        pq.write_table(table, tmp)
    return result
