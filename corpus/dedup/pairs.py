"""Pairs of items within the threshold, over every kind of signature a clip has
(corpus/media/signature.py): its whole frame's, its views' (crops and a shift in time) and its
masked pictures'. Whole is compared with whole, each item's views with the other items' whole
(a re-upload cropped by 10% matches one of the original's views rather than its whole frame),
and each masked picture with the same mask of the other items; a pair's distance is the
smallest of those."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from corpus.dedup.mih import nonzero_rows
from manifests.schemas import SIGNATURE_HASHES, SIGNATURE_MASKS, SIGNATURE_VIEWS

# (index signatures, what, query signatures or None, skip_absent=False) -> (i, j, distance): pairs
# within one set (i < j) when no queries are given, else (index row, query row); skip_absent:
# all-zero queries (an item without that signature) find nothing
Search = Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass
class Signed:
    """Items with signatures: their rows in the items frame, and their signatures."""

    rows: np.ndarray
    mains: np.ndarray  # (N, 8)
    views: np.ndarray  # (N, SIGNATURE_VIEWS, 8), all zero for an item that has none
    masked: np.ndarray  # (N, SIGNATURE_MASKS, 8), all zero for an item that has none

    @classmethod
    def empty(cls) -> Signed:
        return cls(np.empty(0, np.int64), np.empty((0, SIGNATURE_HASHES), np.uint64),
                   np.empty((0, SIGNATURE_VIEWS, SIGNATURE_HASHES), np.uint64),
                   np.empty((0, SIGNATURE_MASKS, SIGNATURE_HASHES), np.uint64))


def _present(signatures: np.ndarray) -> np.ndarray:
    """The rows of (N, 8) signatures that exist (an item built before a kind has zeros)."""
    return np.flatnonzero(nonzero_rows(signatures))


def _closest(a: np.ndarray, b: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each (a, b) once, with its smallest distance."""
    if not len(a):
        return a, b, d
    order = np.lexsort((d, b, a))
    a, b, d = a[order], b[order], d[order]
    first = np.r_[True, (a[1:] != a[:-1]) | (b[1:] != b[:-1])]
    return a[first], b[first], d[first]


def within(search: Search, items: Signed, what: str):
    """Pairs (i < j) of one set of items within the threshold."""
    found = [search(items.mains, what)]
    if items.views.shape[1]:
        i, q, e = _views_against(search, items.mains, items.views, f"{what}, views")
        j = q // items.views.shape[1]
        other = i != j
        found.append((np.minimum(i, j)[other], np.maximum(i, j)[other], e[other]))
    for k in range(items.masked.shape[1]):
        owner = _present(items.masked[:, k])
        if len(owner) > 1:
            a, b, d = search(items.masked[owner, k], f"{what}, mask {k + 1}")
            found.append((owner[a], owner[b], d))
    return _closest(*(np.concatenate(parts) for parts in zip(*found, strict=True)))


def _views_against(search: Search, mains: np.ndarray, views: np.ndarray, what: str):
    """Every view of every item (N, V, 8) against the whole-frame signatures, in one search (one
    index per chunk, where a search per view built it V times): pairs (main row, item * V + view)."""
    return search(mains, what, views.reshape(-1, views.shape[-1]), skip_absent=True)


def between(search: Search, items: Signed, other: Signed, what: str):
    """Pairs (item of the first set, item of the other) within the threshold."""
    found = []
    # the first set's wholes and views against the other's wholes
    j, i, d = search(other.mains, what, items.mains)
    found.append((i, j, d))
    if items.views.shape[1]:
        j, q, d = _views_against(search, other.mains, items.views, f"{what}, views")
        found.append((q // items.views.shape[1], j, d))
    # the other's views against the first's wholes
    if other.views.shape[1]:
        i, q, d = _views_against(search, items.mains, other.views, f"{what}, their views")
        found.append((i, q // other.views.shape[1], d))
    for k in range(items.masked.shape[1]):
        mine, theirs = _present(items.masked[:, k]), _present(other.masked[:, k])
        j, i, d = search(other.masked[theirs, k], f"{what}, mask {k + 1}", items.masked[mine, k])
        found.append((mine[i], theirs[j], d))
    return _closest(*(np.concatenate(parts) for parts in zip(*found, strict=True)))


def distance(items: Signed, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """The smallest distance between items i and j (arrays of rows), over every comparison."""
    best = _bits(items.mains[i], items.mains[j])
    for k in range(items.views.shape[1]):
        for a, b in ((i, j), (j, i)):
            has = items.views[a, k].any(axis=1)
            best = np.where(has, np.minimum(best, _bits(items.views[a, k], items.mains[b])), best)
    for k in range(items.masked.shape[1]):
        has = items.masked[i, k].any(axis=1) & items.masked[j, k].any(axis=1)
        best = np.where(has, np.minimum(best, _bits(items.masked[i, k], items.masked[j, k])), best)
    return best


def _bits(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bits apart, per row of two (..., 8) signature arrays."""
    return np.bitwise_count(x ^ y).sum(axis=-1)
