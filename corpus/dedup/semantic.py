"""Semantic deduplication from clip embeddings (the Parquet `vmae embed` writes: clip_key,
embedding), after SemDeDup: K-means over the normalized embeddings, then cosine similarity
within each cluster. Two clips of different videos at or above the threshold are semantic
duplicates (the same scene filmed twice, a re-edit, a copy the signature missed); a training clip
that close to an evaluation clip is a leak. K-means keeps the search to pairs that share a
cluster, so 1.35M clips cost one assignment pass and a few thousand small matrix products,
which run as executor tasks (processes or Ray) like the near-pair search.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from corpus.dedup.spill import Shipped, removed, shipped, taken
from corpus.errors import InputError

_SAMPLE = 100_000  # centroids are fitted on at most this many embeddings
_ITERATIONS = 20
_BATCH = 50_000  # rows assigned to centroids at once (bounds memory)


def read_embeddings(paths: list[str | Path]) -> tuple[list[str], np.ndarray]:
    """Keys and L2-normalized float32 embeddings of every file, checked: same width, finite, no
    key twice. Read a batch at a time into one array (the table, its float copy and the
    normalized copy were three times the embeddings' size)."""
    files = [_embedding_file(p) for p in paths]
    widths = {width for _, width in files}
    if len(widths) > 1:
        raise InputError(f"--embeddings: the files hold embeddings of different widths ({sorted(widths)})")
    width = widths.pop() if widths else 1
    x = np.empty((sum(f.metadata.num_rows for f, _ in files), width), np.float32)
    keys: list[str] = []
    for (file, _), path in zip(files, paths, strict=True):
        try:
            for batch in file.iter_batches(batch_size=65_536, columns=["clip_key", "embedding"], use_threads=False):
                block = x[len(keys) : len(keys) + batch.num_rows]
                block[:] = batch.column("embedding").flatten().to_numpy(zero_copy_only=False).reshape(-1, width)
                if not np.isfinite(block).all():
                    raise InputError(f"--embeddings {path}: holds values that are not finite")
                block /= np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)
                keys += batch.column("clip_key").to_pylist()
        except (OSError, ValueError, TypeError) as e:  # damaged pages, values that are not numbers
            raise InputError(f"--embeddings {path}: cannot be read as clip keys and embeddings ({e})") from e
    if len(keys) != len(x):
        raise InputError(f"--embeddings: the files hold {len(keys)} rows where their metadata says {len(x)}; "
                         "write them again")
    if len(set(keys)) != len(keys):
        raise InputError("--embeddings: a clip_key occurs twice; give each clip's embedding once")
    return keys, x


def _embedding_file(path: str | Path) -> tuple[pq.ParquetFile, int]:
    """The file, opened and checked (its columns), and its embeddings' width."""
    try:
        file = pq.ParquetFile(path, pre_buffer=False)
        kind = file.schema_arrow.field("embedding").type
        file.schema_arrow.field("clip_key")
    except (OSError, KeyError, ValueError) as e:
        raise InputError(f"--embeddings {path}: not a Parquet file with clip_key and embedding columns, as "
                         f"'vmae embed' writes ({e})") from e
    width = getattr(kind, "list_size", None)
    if width is None or width <= 0:
        raise InputError(f"--embeddings {path}: 'embedding' must be a fixed-size list of floats")
    return file, width


def kmeans(x: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """(k, D) centroids of unit vectors (spherical K-means), fitted on a sample."""
    rng = np.random.default_rng(seed)
    sample = x[rng.choice(len(x), min(len(x), _SAMPLE), replace=False)]
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
    return np.concatenate([np.argmax(x[i : i + _BATCH] @ centroids.T, axis=1)
                           for i in range(0, len(x), _BATCH)] or [np.empty(0, np.int64)])


@dataclass(frozen=True, eq=False)
class ClusterSearch:
    """The pairs of one batch of clusters at or above the threshold, and each item's best
    similarity to another video (for the picture). Picklable: one task of the search."""

    x: Shipped  # (N, D) normalized embeddings
    video: np.ndarray  # (N,) an id per video: windows of one video are never pairs
    members: list[np.ndarray]  # per cluster: its item indices
    threshold: float

    def __call__(self, batch: range) -> tuple[np.ndarray, np.ndarray]:
        pairs, best = [], []
        for c in batch:
            idx = self.members[c]
            members = taken(self.x, idx)  # from the file a cluster at a time: a worker holds no copy of x
            sim = members @ members.T
            sim[self.video[idx][:, None] == self.video[idx][None, :]] = -1.0
            best.append(np.stack([idx, sim.max(axis=1) if len(idx) > 1 else np.full(len(idx), -1.0)], axis=1))
            a, b = np.nonzero(np.triu(sim >= self.threshold, 1))
            pairs.append(np.stack([idx[a], idx[b], sim[a, b]], axis=1))
        return (np.concatenate(pairs) if pairs else np.empty((0, 3)),
                np.concatenate(best) if best else np.empty((0, 2)))


def similar_pairs(x: np.ndarray, video: np.ndarray, label: np.ndarray, threshold: float,
                  map_fn: Callable | None = None, spill: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i, j, cosine) of different videos in one cluster at or above the threshold, and each
    item's highest cosine to another video of its cluster (-1 when it has none). spill: where the
    embeddings are saved for map_fn's workers to map (corpus/dedup/spill.py)."""
    order = np.argsort(label, kind="stable")
    bounds = np.flatnonzero(np.r_[True, label[order][1:] != label[order][:-1], True])
    members = [order[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    # batches of clusters of about equal work (sum of squared sizes)
    work = np.cumsum([len(m) ** 2 for m in members])
    cuts = np.searchsorted(work, np.linspace(0, work[-1] if len(work) else 0, 17)[1:-1])
    batches = [range(a, b) for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(members)], strict=True) if b > a]
    search = ClusterSearch(shipped(x, spill if map_fn else None), video, members, threshold)
    found: list[tuple[np.ndarray, np.ndarray]] = []
    try:
        if map_fn is None:
            found = [search(b) for b in batches]
        else:
            map_fn(search, batches, lambda _, r: found.append(r))
    finally:
        removed(search.x)
    pairs = np.concatenate([p for p, _ in found]) if found else np.empty((0, 3))
    best = np.full(len(x), -1.0)
    for _, b in found:
        best[b[:, 0].astype(np.int64)] = b[:, 1]
    return pairs, best


def leaks(x: np.ndarray, eval_x: np.ndarray, centroids: np.ndarray, label: np.ndarray, threshold: float
          ) -> tuple[np.ndarray, np.ndarray]:
    """Per training item: its most similar evaluation item of the same cluster and that cosine
    (-1 where the cluster has none)."""
    eval_label = assign(eval_x, centroids)
    nearest, sim = np.full(len(x), -1), np.full(len(x), -1.0)
    for c in np.unique(eval_label):
        mine, theirs = np.flatnonzero(label == c), np.flatnonzero(eval_label == c)
        if len(mine):
            s = x[mine] @ eval_x[theirs].T
            nearest[mine], sim[mine] = theirs[s.argmax(axis=1)], s.max(axis=1)
    return nearest, sim


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
