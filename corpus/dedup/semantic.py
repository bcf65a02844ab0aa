"""Semantic deduplication from clip embeddings, after SemDeDup: K-means over the normalized
embeddings, then cosine similarity within each cluster. Two clips of different videos at or above
the threshold are semantic duplicates (the same scene filmed twice, a re-edit, a copy the
signature missed); a training clip that close to an evaluation clip is a leak.

Out of core, as NeMo Curator's semantic dedup runs: centroids are fitted on a sample, then the
embeddings stream past them once, each written (as float16) to the bucket of its cluster: a file
per bucket, a bucket being the clusters with one remainder of their number. A bucket is one task
of the search (processes or Ray, like the near-pair search), which reads only its own file and
compares each of its clusters a block of rows at a time. Memory is that of a bucket and of a
block, whatever the corpus' size; disk, the embeddings once as float16.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from corpus.dedup.spill import ArrayWriter, Shipped, loaded, removed, taken

_SAMPLE = 100_000  # centroids are fitted on at most this many embeddings
_SAMPLE_BYTES = 1 << 28  # and on at most this much of them as float32 (256 MB: 131k of 512 values)
_ITERATIONS = 20
_SIMILARITIES = 1 << 24  # cosines computed at once (64 MB): rows assigned, or a cluster's rows compared
_MIN_BUCKETS = 16  # tasks of the search at least (when there are that many clusters)
_BUCKET_BYTES = 1 << 28  # a bucket's embeddings, about (256 MB of float16)


def sample_rows(n: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """The rows K-means is fitted on: at most _SAMPLE of n (and _SAMPLE_BYTES of embeddings `width`
    wide), drawn without repeats."""
    return rng.choice(n, min(n, _SAMPLE, max(1, _SAMPLE_BYTES // (4 * width))), replace=False)


def kmeans(sample: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """(k, D) centroids of unit vectors (spherical K-means) fitted on the sample's rows."""
    k = min(k, len(sample))
    centroids = sample[rng.choice(len(sample), k, replace=False)].copy()
    for _ in range(_ITERATIONS):
        label = np.argmax(sample @ centroids.T, axis=1)
        sums = np.zeros_like(centroids)
        np.add.at(sums, label, sample)
        empty = np.bincount(label, minlength=k) == 0
        sums[empty] = sample[rng.choice(len(sample), int(empty.sum()))]  # reseed clusters that lost every member
        centroids = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    return centroids


def assign(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Each row's nearest centroid, a block of rows at a time (a block's cosines stay _SIMILARITIES)."""
    step = max(1, _SIMILARITIES // max(len(centroids), 1))
    return np.concatenate([np.argmax(x[i : i + step] @ centroids.T, axis=1)
                           for i in range(0, len(x), step)] or [np.empty(0, np.int64)])


def bucket_count(items: int, width: int, clusters: int) -> int:
    """Buckets for `items` embeddings of `width`: at least _MIN_BUCKETS, each about _BUCKET_BYTES
    at most, and no more than there are clusters."""
    return max(1, min(clusters, max(_MIN_BUCKETS, -(-items * width * 2 // _BUCKET_BYTES))))


@dataclass
class BucketWriter:
    """Embeddings written to the bucket of their cluster (cluster % count), as float16, each with
    (item, cluster, video): in files in `folder`, or held here when it is None (workers that do
    not share this machine's disk get the arrays). Records where each item went."""

    count: int
    width: int
    items: int
    folder: Path | None
    where: np.ndarray = field(init=False)  # per item: its row in its bucket
    _x: list = field(init=False)  # per bucket: its embeddings' file, or list of arrays
    _meta: list = field(init=False)
    _written: np.ndarray = field(init=False)  # rows so far, per bucket

    def __post_init__(self) -> None:
        self.where = np.full(self.items, -1, np.int64)
        if self.folder is None:
            self._x, self._meta = [[] for _ in range(self.count)], [[] for _ in range(self.count)]
        else:
            self._x = [ArrayWriter(self.folder, self.width, np.float16) for _ in range(self.count)]
            self._meta = [ArrayWriter(self.folder, 3, np.int64) for _ in range(self.count)]
        self._written = np.zeros(self.count, np.int64)

    def append(self, x: np.ndarray, item: np.ndarray, cluster: np.ndarray, video: np.ndarray) -> None:
        bucket = cluster % self.count
        for b in np.unique(bucket):
            mine = np.flatnonzero(bucket == b)
            self.where[item[mine]] = self._written[b] + np.arange(len(mine))
            self._written[b] += len(mine)
            self._x[b].append(x[mine].astype(np.float16))  # a list here, or a file
            self._meta[b].append(np.stack([item[mine], cluster[mine], video[mine]], axis=1))

    def done(self) -> Buckets:
        if self.folder is None:
            return Buckets([np.concatenate(x) if x else np.empty((0, self.width), np.float16) for x in self._x],
                           [np.concatenate(m) if m else np.empty((0, 3), np.int64) for m in self._meta])
        return Buckets([w.done() for w in self._x], [w.done() for w in self._meta])


@dataclass(frozen=True)
class Buckets:
    """Per bucket: (n, D) float16 embeddings and (n, 3) int64 (item, cluster, video)."""

    x: list[Shipped]
    meta: list[Shipped]

    def rows_of(self, bucket: np.ndarray, where: np.ndarray) -> np.ndarray:
        """(k, D) float32 embeddings from their buckets and rows there."""
        out = np.empty((len(bucket), self.x[0].shape[1] if self.x else 0), np.float32)
        for b in np.unique(bucket):
            mine = np.flatnonzero(bucket == b)
            out[mine] = taken(self.x[b], where[mine])
        return out

    def removed(self) -> None:
        removed(*self.x, *self.meta)


@dataclass(frozen=True, eq=False)
class BucketSearch:
    """One bucket's pairs of different videos at or above the threshold, each item's best cosine to
    another video of its cluster (for the picture), and its evaluation clips that close (leaks).
    Picklable: one task of the search, which reads only its bucket."""

    buckets: Buckets
    eval_x: np.ndarray  # (E, D) float32 normalized embeddings of the evaluation clips
    eval_cluster: np.ndarray  # (E,)
    threshold: float

    def __call__(self, bucket: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(k, 3) float64 (item, item, cosine) pairs; (n, 2) (item, best cosine, -1: none); (h, 3)
        (item, evaluation clip, cosine) of the items at or above the threshold of one."""
        x = loaded(self.buckets.x[bucket]).astype(np.float32)
        item, cluster, video = loaded(self.buckets.meta[bucket]).T
        order = np.argsort(cluster, kind="stable")  # each cluster's rows together, in the order written
        bounds = np.flatnonzero(np.r_[True, cluster[order][1:] != cluster[order][:-1], True]) if len(order) else [0]
        pairs, best, leaks = [np.empty((0, 3))], [np.empty((0, 2))], [np.empty((0, 3))]
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            rows = order[a:b]
            found, top = self._cluster(x[rows], video[rows])
            pairs.append(np.stack([item[rows][found[0]], item[rows][found[1]], found[2]], axis=1))
            best.append(np.stack([item[rows], top], axis=1))
            leaks.append(self._leaks(x[rows], item[rows], cluster[rows[0]]))
        return np.concatenate(pairs), np.concatenate(best), np.concatenate(leaks)

    def _cluster(self, x: np.ndarray, video: np.ndarray) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
        """Pairs (row, later row, cosine) of one cluster at or above the threshold, of different
        videos, and each row's best cosine to another video; a block of rows at a time."""
        step = max(1, _SIMILARITIES // max(len(x), 1))
        first, second, cosine, top = [], [], [], np.full(len(x), -1.0)
        for s in range(0, len(x), step):
            sim = x[s : s + step] @ x.T
            sim[video[s : s + step, None] == video[None, :]] = -1.0  # an item's own video, itself included
            top[s : s + len(sim)] = sim.max(axis=1)
            i, j = np.nonzero(sim >= self.threshold)
            later = j > i + s
            first.append(i[later] + s)
            second.append(j[later])
            cosine.append(sim[i[later], j[later]])
        empty = [np.empty(0, np.int64)]
        return (np.concatenate(first or empty), np.concatenate(second or empty), np.concatenate(cosine or empty)), top

    def _leaks(self, x: np.ndarray, item: np.ndarray, cluster: int) -> np.ndarray:
        theirs = np.flatnonzero(self.eval_cluster == cluster)
        if not len(theirs):
            return np.empty((0, 3))
        sim = x @ self.eval_x[theirs].T
        nearest, best = sim.argmax(axis=1), sim.max(axis=1)
        hit = best >= self.threshold
        return np.stack([item[hit], theirs[nearest[hit]], best[hit]], axis=1)


@dataclass
class Found:
    """What the search found: pairs (a, b, cosine) of items, each item's best cosine to another
    video of its cluster (-1: none), and leaks (item, evaluation clip, cosine)."""

    a: np.ndarray
    b: np.ndarray
    cosine: np.ndarray
    best: np.ndarray
    leaks: np.ndarray


def search_buckets(buckets: Buckets, items: int, eval_x: np.ndarray, eval_cluster: np.ndarray, threshold: float,
                   map_fn: Callable | None = None) -> Found:
    """Every bucket searched, by map_fn (an executor's map) when given, else here."""
    search = BucketSearch(buckets, eval_x, eval_cluster, threshold)
    tasks = [b for b in range(len(buckets.x)) if len(buckets.x[b])]
    results: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    if map_fn is None:
        results = [search(b) for b in tasks]
    else:
        map_fn(search, tasks, lambda _, r: results.append(r))
    pairs = np.concatenate([p for p, _, _ in results] or [np.empty((0, 3))])
    best = np.full(items, -1.0)
    for _, b, _ in results:
        best[b[:, 0].astype(np.int64)] = b[:, 1]
    leaks = np.concatenate([leak for _, _, leak in results] or [np.empty((0, 3))])
    return Found(pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64), pairs[:, 2], best, leaks)


def draw_distribution(best: np.ndarray, threshold: float, path: Path) -> Path:
    """A histogram of each clip's highest similarity to another video of its cluster, with the
    threshold: duplicates are the bump at the right, apart from the bulk."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = best[best > -1]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.hist(values, bins=100, range=(min(0.0, float(values.min(initial=0.0))), 1.0), color="#4477aa")
    ax.set_yscale("log")
    ax.axvline(threshold, color="#cc3311", linestyle="--", label=f"threshold {threshold:g}: "
               f"{int((values >= threshold).sum())} of {len(values)} clips have a duplicate")
    ax.set_xlabel("highest cosine similarity to a clip of another video in the same cluster")
    ax.set_ylabel("clips")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
