"""`vmae search`: the clips of a corpus that a video-language model finds closest to a few words,
ranked by the contrastive similarity in the shared space, with where each clip is (shard, source
video, times) and a contact sheet of their middle frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from manifests.layout import CorpusLayout
from manifests.tables import read_table
from trainer import checkpoint
from trainer.data.captions import Tokenizer
from trainer.data.shards import resolve_shards
from trainer.errors import CheckpointError, ConfigError
from trainer.eval.evaluate import data_config_of
from trainer.eval.retrieval import embed, embed_text
from trainer.eval.retrieval_sheet import contact_sheet
from trainer.models.families import VIDEO_LANGUAGE

PLACES = ("clip_key", "shard", "video_id", "start_s", "end_s")


def video_language_model(path: str | Path):
    """A video-language checkpoint's whole model and its tokenizer."""
    ckpt = checkpoint.read(path)
    if ckpt.family is not VIDEO_LANGUAGE:
        raise CheckpointError(f"{ckpt.path} is a {ckpt.kind} checkpoint; this needs a video-language one ('vmae "
                              "train vlpretrain')")
    model = checkpoint.rebuild(ckpt)
    return ckpt, model, Tokenizer(model.vocab, (ckpt.config.get("vl") or {}).get("max_tokens", 32))


def search(ckpt_path: str | Path, shards: list[str], queries: list[str], top: int = 10, sheet: Path | None = None,
           batch_size: int = 16, workers: int | None = None, progress: bool = True) -> list[list[dict]]:
    """For each query its `top` clips: key, score, and where the clip is when the corpus says."""
    if not queries or not all(q.strip() for q in queries):
        raise ConfigError("give one or more non-empty queries, e.g. \"a dog catching a frisbee\"")
    ckpt, model, tokenizer = video_language_model(ckpt_path)
    urls, _ = resolve_shards(shards)
    emb = embed(model, urls, data_config_of(ckpt, workers=workers), tokenizer, batch_size, progress=progress,
                captioned=False)
    text, _, _ = embed_text(model, tokenizer, queries)
    scores = (text @ emb.video.T).float().numpy()  # (Q, V)
    places = _places(shards)
    found = []
    for q in range(len(queries)):
        order = np.argsort(-scores[q], kind="stable")[:top]
        found.append([{"clip_key": emb.keys[v], "score": float(scores[q, v]), **places.get(emb.keys[v], {})}
                      for v in order])
    if sheet is not None:
        rows = [(query, [(emb.thumbs[emb.keys.index(hit["clip_key"])], f"{hit['score']:.2f}", False)
                         for hit in hits]) for query, hits in zip(queries, found, strict=True)]
        contact_sheet(rows, "search: each query's closest clips", sheet)
    return found


def _places(shards: list[str]) -> dict[str, dict]:
    """clip_key -> shard, video and times, from the clips tables of the corpus folders given."""
    out: dict[str, dict] = {}
    for spec in shards:
        if not Path(spec).is_dir() or not CorpusLayout.at(spec).is_corpus():
            continue  # a URL pattern: keys and scores only
        for row in read_table(Path(spec), "clips", required=False).select(list(PLACES)).to_pylist():
            out[row.pop("clip_key")] = row
    return out
