"""Verdicts on dedup items: marking items dropped with a reason, and the keep rule's order."""

from __future__ import annotations

import numpy as np
import pandas as pd
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
    """Rank of each item under the keep rule (0 = most preferred)."""
    ordered = items.sort_values(["labeled", "pixels", "corpus_order", "key"], ascending=[False, False, True, True])
    rank = np.empty(len(items), np.int64)
    rank[ordered.index.to_numpy()] = np.arange(len(items))
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
    """One key per video (its corpus and id) for the items at `rows`: windows of one video are
    never duplicates of each other."""
    return (items.loc[rows, "corpus"] + "\0" + items.loc[rows, "video_id"]).to_numpy()
