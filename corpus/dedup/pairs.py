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
from corpus.dedup.spill import Shipped, taken
from manifests.schemas import SIGNATURE_HASHES, SIGNATURE_MASKS, SIGNATURE_VIEWS

# (index signatures, what, query signatures or None, skip_absent=False, group=0) -> (i, j, distance):
# pairs within one set (i < j) when no queries are given, else (index row, query row); skip_absent:
# all-zero queries (an item without that signature) find nothing; group > 0: query q is index row
# q // group's own (its views) and is not paired with it
Search = Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass
class Signed:
    """Items with signatures: their rows in the items frame, and their signatures, in memory or in
    files (corpus/dedup/spill.py; what dedup uses, so that memory does not grow with them)."""

    rows: np.ndarray
    mains: Shipped  # (N, 8)
    views: Shipped  # (N * V, 8): item i's view v at row i * V + v; all zero where an item has none
    view_count: int  # V
    masks: list[tuple[np.ndarray, Shipped]]  # per mask: the items (positions) that have it, their signatures

    @classmethod
    def of(cls, rows: np.ndarray, mains: np.ndarray, views: np.ndarray, masked: np.ndarray) -> Signed:
        """From arrays in memory: (N, 8), (N, V, 8) and (N, M, 8), all zero where an item has none."""
        owners = [np.flatnonzero(nonzero_rows(masked[:, k])) for k in range(masked.shape[1])]
        return cls(rows, mains, views.reshape(-1, views.shape[-1]), views.shape[1],
                   [(o, masked[o, k]) for k, o in enumerate(owners)])

    @classmethod
    def empty(cls) -> Signed:
        return cls.of(np.empty(0, np.int64), np.empty((0, SIGNATURE_HASHES), np.uint64),
                      np.empty((0, SIGNATURE_VIEWS, SIGNATURE_HASHES), np.uint64),
                      np.empty((0, SIGNATURE_MASKS, SIGNATURE_HASHES), np.uint64))

    def __len__(self) -> int:
        return len(self.rows)


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
    if items.view_count:
        # every view of every item against the whole frames, in one search (one index per band,
        # where a search per view built it V times)
        i, q, e = search(items.mains, f"{what}, views", items.views, skip_absent=True, group=items.view_count)
        j = q // items.view_count
        found.append((np.minimum(i, j), np.maximum(i, j), e))
    for k, (owner, signatures) in enumerate(items.masks):
        if len(owner) > 1:
            a, b, d = search(signatures, f"{what}, mask {k + 1}")
            found.append((owner[a], owner[b], d))
    return _closest(*(np.concatenate(parts) for parts in zip(*found, strict=True)))


def between(search: Search, items: Signed, other: Signed, what: str):
    """Pairs (item of the first set, item of the other) within the threshold."""
    found = []
    # the first set's wholes and views against the other's wholes
    j, i, d = search(other.mains, what, items.mains)
    found.append((i, j, d))
    if items.view_count:
        j, q, d = search(other.mains, f"{what}, views", items.views, skip_absent=True)
        found.append((q // items.view_count, j, d))
    # the other's views against the first's wholes
    if other.view_count:
        i, q, d = search(items.mains, f"{what}, their views", other.views, skip_absent=True)
        found.append((i, q // other.view_count, d))
    for k, ((mine, my_signatures), (theirs, their_signatures)) in enumerate(zip(items.masks, other.masks,
                                                                                 strict=True)):
        j, i, d = search(their_signatures, f"{what}, mask {k + 1}", my_signatures)
        found.append((mine[i], theirs[j], d))
    return _closest(*(np.concatenate(parts) for parts in zip(*found, strict=True)))


_DISTANCE_BLOCK = 1 << 16  # pairs whose signatures are gathered at once


def distance(items: Signed, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """The smallest distance between items i and j (arrays of positions), over every comparison."""
    return np.concatenate([_distance(items, i[s : s + _DISTANCE_BLOCK], j[s : s + _DISTANCE_BLOCK])
                           for s in range(0, len(i), _DISTANCE_BLOCK)] or [np.empty(0, np.int64)])


def _distance(items: Signed, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    mains_i, mains_j = taken(items.mains, i), taken(items.mains, j)
    best = _bits(mains_i, mains_j)
    v = items.view_count
    if v:
        views_i, views_j = ((taken(items.views, (rows[:, None] * v + np.arange(v)).ravel()).reshape(len(rows), v, -1))
                            for rows in (i, j))
        for k in range(v):
            for views, mains in ((views_i[:, k], mains_j), (views_j[:, k], mains_i)):
                best = np.where(nonzero_rows(views), np.minimum(best, _bits(views, mains)), best)
    for owner, signatures in items.masks:
        at_i, at_j = np.searchsorted(owner, i), np.searchsorted(owner, j)
        has = _owns(owner, at_i, i) & _owns(owner, at_j, j)
        d = _bits(taken(signatures, at_i[has]), taken(signatures, at_j[has]))
        best[has] = np.minimum(best[has], d)
    return best


def _owns(owner: np.ndarray, at: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Whether each of rows has the mask (is in the sorted `owner`, found at `at`)."""
    return (at < len(owner)) & (owner[np.minimum(at, len(owner) - 1)] == rows) if len(owner) else at < 0


def _bits(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bits apart, per row of two (..., 8) signature arrays."""
    return np.bitwise_count(x ^ y).sum(axis=-1)
