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
import pyarrow as pa

from corpus.dedup import DEFAULT_SIMILARITY
from corpus.dedup.embeddings import EmbeddingFiles
from corpus.dedup.semantic import (
    Buckets,
    BucketWriter,
    assign,
    bucket_count,
    draw_distribution,
    kmeans,
    sample_rows,
    search_buckets,
)
from corpus.dedup.units import string_hashes
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
    `against`: the evaluation items (key, corpus). spill: a folder for the buckets' files, which
    map_fn's workers read (None: the buckets are held in memory and shipped to them)."""
    if not 0 < opts.similarity <= 1:
        raise InputError(f"--similarity {opts.similarity}: a cosine between 0 and 1")
    files = EmbeddingFiles.open(opts.embeddings)
    keys = files.keys()
    kept = items.index[items["keep"].to_numpy(bool)]
    at = keys.rows_of(string_hashes(pa.array(items.loc[kept, "key"], pa.large_string())))
    live, rows = kept[at >= 0], at[at >= 0]  # the items still kept that have an embedding, and its row
    if not len(live):
        raise InputError(f"none of the clips still kept has an embedding in {', '.join(opts.embeddings)} (matched "
                         "by clip_key); embed the corpora with 'vmae embed --shards DIR' first")
    at = keys.rows_of(string_hashes(pa.array(against["key"], pa.large_string())))
    held, eval_rows = against[at >= 0], at[at >= 0]
    del keys
    rng = np.random.default_rng(0)
    sample, eval_x = _gathered(files, [rows[sample_rows(len(live), files.width, rng)], eval_rows])
    centroids = kmeans(sample, opts.clusters or max(1, round(np.sqrt(len(live)))), rng)
    del sample
    writer = BucketWriter(bucket_count(len(live), files.width, len(centroids)), files.width, len(live), spill)
    label = _bucketed(files, rows, centroids, video_keys(items, live), writer)
    items.loc[live, "cluster"] = label
    buckets = writer.done()
    try:
        found = search_buckets(buckets, len(live), eval_x, assign(eval_x, centroids), opts.similarity, map_fn)
        _mark_leaks(items, live, held, found.leaks)
        alive = items.loc[live, "keep"].to_numpy(bool)
        ok = alive[found.a] & alive[found.b]
        keeper = keepers(found.a[ok], found.b[ok], len(live), preference(items)[live])
        drop = np.flatnonzero((keeper != np.arange(len(live))) & alive)
        dropped, kept_copy = live[drop], live[keeper[drop]]
        mark(items, dropped, "semantic", items.loc[kept_copy, "key"].to_numpy(),
             items.loc[kept_copy, "corpus"].to_numpy(), None)
        x, y = (_from_buckets(buckets, writer, label, which) for which in (drop, keeper[drop]))
        items.loc[dropped, "similarity"] = np.einsum("ij,ij->i", x, y)
    finally:
        buckets.removed()
    plot = Path(opts.plot) if opts.plot else Path(items["corpus"].iloc[0]) / "dedup_similarity.png"
    return len(live), draw_distribution(found.best, opts.similarity, plot)


def _gathered(files: EmbeddingFiles, wanted: list[np.ndarray]) -> list[np.ndarray]:
    """For each array of rows, the normalized float32 embeddings at those rows, in its order: one
    pass over the files."""
    out = [np.empty((len(w), files.width), np.float32) for w in wanted]
    order = [np.argsort(w, kind="stable") for w in wanted]
    for first, block in files.batches():
        for w, o, x in zip(wanted, order, out, strict=True):
            lo, hi = np.searchsorted(w[o], [first, first + len(block)])
            x[o[lo:hi]] = block[w[o[lo:hi]] - first]
    return out


def _bucketed(files: EmbeddingFiles, rows: np.ndarray, centroids: np.ndarray, video: np.ndarray,
              writer: BucketWriter) -> np.ndarray:
    """Every item's embedding (at rows[item]) assigned its nearest centroid and written to its
    bucket: one pass over the files. Returns each item's cluster."""
    item_of_row = np.full(files.rows, -1, np.int64)
    item_of_row[rows] = np.arange(len(rows))
    label = np.empty(len(rows), np.int64)
    for first, block in files.batches():
        item = item_of_row[first : first + len(block)]
        mine = np.flatnonzero(item >= 0)
        x, item = block[mine], item[mine]
        label[item] = cluster = assign(x, centroids)
        writer.append(x, item, cluster, video[item])
    return label


def _from_buckets(buckets: Buckets, writer: BucketWriter, label: np.ndarray, items: np.ndarray) -> np.ndarray:
    return buckets.rows_of(label[items] % writer.count, writer.where[items])


def _mark_leaks(items: pd.DataFrame, live: pd.Index, held: pd.DataFrame, leaks: np.ndarray) -> None:
    """held: the evaluation items with an embedding (key, corpus); leaks: (item, held row, cosine)."""
    if not len(leaks):
        return
    rows, nearest = live[leaks[:, 0].astype(np.int64)], leaks[:, 1].astype(np.int64)
    mark(items, rows, "leak_semantic", held["key"].to_numpy()[nearest], held["corpus"].to_numpy()[nearest], None)
    items.loc[rows, "similarity"] = leaks[:, 2]
