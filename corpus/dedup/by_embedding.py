"""The semantic pass of `vmae corpus dedup --embeddings`: on the items still kept after the exact,
near and signature-leak passes, leaks against evaluation clips by embedding (leak_semantic),
then semantic duplicates (semantic), with the same keep rule; every embedded item gets its
K-means cluster (the dedup table's `cluster`, which recipes may cap)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from corpus.dedup import DEFAULT_SIMILARITY
from corpus.dedup.semantic import (
    assign,
    draw_distribution,
    kmeans,
    leaks,
    read_embeddings,
    similar_pairs,
)
from corpus.dedup.verdicts import keepers, mark, preference, video_keys
from corpus.errors import InputError
from manifests.options import option

SEMANTIC = "Semantic"


@dataclass(frozen=True)
class SemanticOptions:
    embeddings: tuple[str, ...] = option((), "Parquet of clip embeddings ('vmae embed': clip_key, embedding) of the "
                                             "corpora and the --against ones; turns on semantic dedup (K-means, then "
                                             "cosine within clusters). Repeat for several files.", panel=SEMANTIC)
    similarity: float = option(DEFAULT_SIMILARITY, "Cosine at or above which two clips of different videos are "
                                                   "semantic duplicates; choose it from the picture the command "
                                                   "draws.", panel=SEMANTIC)
    clusters: int | None = option(None, "K-means clusters (default: about the square root of the clips).",
                                  panel=SEMANTIC)
    plot: str | None = option(None, "Where to draw the similarity distribution (default: DIR/dedup_similarity.png "
                                    "of the first corpus).", panel=SEMANTIC)


def semantic_pass(items: pd.DataFrame, against: pd.DataFrame, opts: SemanticOptions, map_fn: Callable | None,
                  spill: Path | None = None) -> tuple[int, Path]:
    """Marks items in place; returns how many items had an embedding, and the picture's path.
    `against`: the evaluation items (key, corpus). spill: as similar_pairs'."""
    if not 0 < opts.similarity <= 1:
        raise InputError(f"--similarity {opts.similarity}: a cosine between 0 and 1")
    keys, emb = read_embeddings(list(opts.embeddings))
    where = pd.Series(np.arange(len(keys)), index=keys)
    live = items.index[items["keep"].to_numpy(bool) & items["key"].isin(where.index).to_numpy()]
    if not len(live):
        raise InputError(f"none of the clips still kept has an embedding in {', '.join(opts.embeddings)} (matched "
                         "by clip_key); embed the corpora with 'vmae embed --shards DIR' first")
    rows = where[items.loc[live, "key"]].to_numpy()
    held = against[against["key"].isin(where.index)]
    eval_x = emb[where[held["key"]].to_numpy()]
    x = _gathered(emb, rows)
    del emb
    k = opts.clusters or max(1, round(np.sqrt(len(live))))
    centroids = kmeans(x, k)
    label = assign(x, centroids)
    items.loc[live, "cluster"] = label
    _leaks(items, live, x, held, eval_x, centroids, label, opts.similarity)
    alive = items.loc[live, "keep"].to_numpy(bool)
    video = video_keys(items, live)
    pairs, best = similar_pairs(x, video, label, opts.similarity, map_fn, spill)
    a, b = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
    ok = alive[a] & alive[b]
    keeper = keepers(a[ok], b[ok], len(live), preference(items)[live])
    drop = np.flatnonzero((keeper != np.arange(len(live))) & alive)
    rows, krows = live[drop], live[keeper[drop]]
    mark(items, rows, "semantic", items.loc[krows, "key"].to_numpy(), items.loc[krows, "corpus"].to_numpy(), None)
    items.loc[rows, "similarity"] = np.einsum("ij,ij->i", x[drop], x[keeper[drop]])
    plot = Path(opts.plot) if opts.plot else Path(items["corpus"].iloc[0]) / "dedup_similarity.png"
    return len(live), draw_distribution(best, opts.similarity, plot)


def _gathered(emb: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """emb[rows], without a copy where rows ascend (the usual case: the items of the corpora in the
    order their embeddings were written): each row moves down in place. A copy was as large as
    the embeddings (3 GB at 1.5M clips of 512 floats)."""
    if not len(rows) or np.any(rows[1:] <= rows[:-1]):
        return emb[rows]
    for s in range(0, len(rows), _GATHER_BLOCK):
        block = rows[s : s + _GATHER_BLOCK]
        emb[s : s + len(block)] = emb[block]  # its sources lie at or after s: not yet overwritten
    return emb[: len(rows)]


_GATHER_BLOCK = 1 << 16


def _leaks(items, live, x, held: pd.DataFrame, eval_x: np.ndarray, centroids, label, similarity) -> None:
    """held: the evaluation items with an embedding (key, corpus), eval_x their embeddings."""
    if held.empty:
        return
    nearest, sim = leaks(x, eval_x, centroids, label, similarity)
    hit = np.flatnonzero(sim >= similarity)
    mark(items, live[hit], "leak_semantic", held["key"].to_numpy()[nearest[hit]],
         held["corpus"].to_numpy()[nearest[hit]], None)
    items.loc[live[hit], "similarity"] = sim[hit]
