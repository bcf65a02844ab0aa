"""Pairs of items within the threshold, over both kinds of signature a clip has: its whole
frame's and its centre crops' (a re-upload cropped by 8-15% matches one of the crops of the
original rather than its whole frame). Whole is compared with whole, and each item's crops with
the other items' whole; a pair's distance is the smallest of those."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# (index signatures, what, query signatures or None) -> (i, j, distance): pairs within one set
# (i < j) when no queries are given, else (index row, query row)
Search = Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]


def _queries(crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The crops as query rows, and the item each belongs to; items without crops (all zero) left out."""
    n, c, w = crops.shape
    rows, owner = crops.reshape(n * c, w), np.repeat(np.arange(n), c)
    has = rows.any(axis=1)
    return rows[has], owner[has]


def _closest(a: np.ndarray, b: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each (a, b) once, with its smallest distance."""
    if not len(a):
        return a, b, d
    order = np.lexsort((d, b, a))
    a, b, d = a[order], b[order], d[order]
    first = np.r_[True, (a[1:] != a[:-1]) | (b[1:] != b[:-1])]
    return a[first], b[first], d[first]


def within(search: Search, mains: np.ndarray, crops: np.ndarray, what: str):
    """Pairs (i < j) of one set of items within the threshold."""
    a, b, d = search(mains, what)
    queries, owner = _queries(crops)
    i, q, e = search(mains, f"{what}, crops", queries)
    j = owner[q]
    other = i != j
    i, j, e = i[other], j[other], e[other]
    return _closest(np.r_[a, np.minimum(i, j)], np.r_[b, np.maximum(i, j)], np.r_[d, e])


def between(search: Search, mains: np.ndarray, crops: np.ndarray, other_mains: np.ndarray, other_crops: np.ndarray,
            what: str):
    """Pairs (item of the first set, item of the other) within the threshold."""
    queries, owner = _queries(crops)
    both = np.concatenate([mains, queries])
    who = np.r_[np.arange(len(mains)), owner]
    j, q, d = search(other_mains, what, both)  # the first set's wholes and crops against the other's wholes
    their_queries, their_owner = _queries(other_crops)
    i, q2, e = search(mains, f"{what}, crops", their_queries)  # the other's crops against the first's wholes
    return _closest(np.r_[who[q], i], np.r_[j, their_owner[q2]], np.r_[d, e])


def distance(mains: np.ndarray, crops: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """The smallest distance between items i and j (arrays of rows), over whole and crops."""
    best = _bits(mains[i], mains[j])
    for k in range(crops.shape[1]):
        for a, b in ((i, j), (j, i)):
            has = crops[a, k].any(axis=1)
            best = np.where(has, np.minimum(best, _bits(crops[a, k], mains[b])), best)
    return best


def _bits(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bits apart, per row of two (..., 8) signature arrays."""
    return np.bitwise_count(x ^ y).sum(axis=-1)
