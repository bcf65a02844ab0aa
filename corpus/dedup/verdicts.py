"""Verdicts on dedup items: marking items dropped with a reason, and the keep rule's order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def mark(items: pd.DataFrame, idx, reason: str, of_key, of_corpus, distance) -> None:
    """Drop the items at idx (index labels, a mask, or one label) for `reason`."""
    if np.ndim(idx) and not len(items.loc[idx]):
        return
    items.loc[idx, "keep"] = False
    items.loc[idx, "reason"] = reason
    items.loc[idx, "duplicate_of"] = of_key
    items.loc[idx, "duplicate_corpus"] = of_corpus
    items.loc[idx, "distance"] = distance


def preference(items: pd.DataFrame) -> np.ndarray:
    """Rank of each item under the keep rule (0 = most preferred): labeled first, then more
    pixels, then the corpus given first, then the smaller key. Sorted as numbers (the keys as
    their rank, by Arrow: pandas' sorted factorize took 160 bytes a clip more, and 15 times as
    long)."""
    key_rank = pc.rank(pa.array(items["key"], pa.large_string()), sort_keys="ascending",
                       tiebreaker="dense").to_numpy()
    ordered = np.lexsort((key_rank, items["corpus_order"].to_numpy(), -items["pixels"].to_numpy(np.int64),
                          ~items["labeled"].to_numpy(bool)))
    rank = np.empty(len(items), np.int64)
    rank[ordered] = np.arange(len(items))
    return rank


def keepers(a: np.ndarray, b: np.ndarray, n: int, rank: np.ndarray) -> np.ndarray:
    """For n items linked by pairs (a, b): each item's kept copy, the most preferred (lowest
    rank) of its group of linked items; an item that is kept is its own."""
    _, label = connected_components(coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)), directed=False)
    order = np.lexsort((rank, label))
    first = np.r_[True, label[order][1:] != label[order][:-1]]
    keeper = np.empty(n, np.int64)
    keeper[order] = np.repeat(order[first], np.diff(np.r_[np.flatnonzero(first), n]))
    return keeper


def video_keys(items: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """One number per video (its corpus and id) for the items at `rows`: windows of one video are
    never duplicates of each other."""
    codes = pd.factorize(items["video_id"].iloc[rows])[0].astype(np.int64)
    return items["corpus_order"].to_numpy()[rows].astype(np.int64) << 40 | codes


def same_file(file_id: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """For each item: the first item with its file (itself when it has none), and a number per
    distinct file (-1: none). By sorting the ids' two words (a hash table of 16-byte ids took 67
    bytes a clip)."""
    ids = pa.array(file_id, pa.binary(16))
    ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    words = np.frombuffer(ids.buffers()[1], np.uint64, 2 * len(ids), ids.offset * 16).reshape(-1, 2)
    has = pc.is_valid(ids).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(has)
    order = rows[np.lexsort((words[rows, 1], words[rows, 0]))]  # stable: a file's first item leads
    ordered = words[order]
    new_file = np.r_[True, np.any(ordered[1:] != ordered[:-1], axis=1)] if len(order) else np.empty(0, bool)
    group = np.cumsum(new_file) - 1
    codes, same = np.full(len(ids), -1, np.int64), np.arange(len(ids))
    codes[order] = group
    same[order] = order[np.flatnonzero(new_file)][group]
    return same, codes
