"""Exact search of all pairs of signatures within a Hamming threshold, by multi-index hashing.

A signature is B bits (8 × 64). Split into m chunks; if two signatures differ in at most T
bits, then by the pigeonhole principle some chunk differs in at most ⌊T/m⌋ bits. With
m = ⌊T/2⌋ + 1 that is at most one bit, so probing every chunk for equal values and for values
one bit apart finds every pair within T: the search is exact, not approximate. Candidates are
then verified on the whole signature. Everything is vectorized numpy over sorted chunk keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

_VERIFY_BATCH = 4_000_000  # candidate pairs verified at once (bounds memory)


def chunk_bounds(total_bits: int, threshold: int) -> list[tuple[int, int]]:
    """[start, end) bit ranges of the chunks: at least threshold//2 + 1 chunks (so radius ≤ 1
    each suffices), and enough that a chunk fits in 63 bits. More chunks stay exact."""
    m = min(max(threshold // 2 + 1, -(-total_bits // 63)), total_bits)
    edges = np.linspace(0, total_bits, m + 1).round().astype(int)
    return list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))


def extract_bits(words: np.ndarray, start: int, end: int) -> np.ndarray:
    """Bits [start, end) of each row of (N, W) uint64 words (bit 0 = most significant bit of
    word 0), as uint64 values."""
    length = end - start
    w, off = divmod(start, 64)
    mask = np.uint64((1 << length) - 1)
    if off + length <= 64:
        return (words[:, w] >> np.uint64(64 - off - length)) & mask
    high_len = 64 - off
    low_len = length - high_len
    high = words[:, w] & np.uint64((1 << high_len) - 1)
    return ((high << np.uint64(low_len)) | (words[:, w + 1] >> np.uint64(64 - low_len))) & mask


def _expand(queries: np.ndarray, lo: np.ndarray, hi: np.ndarray, order: np.ndarray):
    """Pairs (query, order[lo..hi)) for every query."""
    n = hi - lo
    keep = n > 0
    queries, lo, n = queries[keep], lo[keep], n[keep]
    if not len(n):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    offsets = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    return np.repeat(queries, n), order[np.repeat(lo, n) + offsets]


def _chunk_candidates(keys: np.ndarray, bits: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Pairs whose chunk keys are equal or one bit apart."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    counts = np.diff(np.r_[starts, len(keys)])
    uniq = sorted_keys[starts]
    # equal keys: each item with the items after it in its run
    pos = np.arange(len(keys))
    yield _expand(order, pos + 1, np.repeat(starts + counts, counts), order)
    # one bit apart: from each key whose bit is 0 to the key with that bit set. Setting a zero
    # bit keeps those keys in ascending order, so the look-ups run over sorted queries.
    for b in range(bits):
        flip = np.uint64(1 << b)
        ask = np.flatnonzero((uniq & flip) == 0)
        q = uniq[ask] | flip
        idx = np.minimum(np.searchsorted(uniq, q), len(uniq) - 1)
        hit = uniq[idx] == q
        ga, gb = ask[hit], idx[hit]
        # every item of group ga with every item of group gb
        rep = np.repeat(np.arange(len(ga)), counts[ga])
        pos_a = starts[ga][rep] + np.arange(len(rep)) - np.repeat(np.cumsum(counts[ga]) - counts[ga], counts[ga])
        lo = starts[gb][rep]
        yield _expand(order[pos_a], lo, lo + counts[gb][rep], order)


@dataclass(frozen=True, eq=False)
class ChunkSearch:
    """The pairs within the threshold found through one chunk: one task of the search, so chunks
    run in parallel. Picklable; an executor ships it (and its signatures) once per worker."""

    signatures: np.ndarray  # (N, W) uint64, contiguous
    threshold: int

    def __call__(self, bounds: tuple[int, int]) -> np.ndarray:
        """(k, 3) rows (i, j, distance), i < j, unique, verified on the whole signature."""
        sig, n = self.signatures, len(self.signatures)
        found, pending_a, pending_b, pending = [], [], [], 0

        def verify() -> None:
            nonlocal pending
            if not pending:
                return
            a, b = np.concatenate(pending_a), np.concatenate(pending_b)
            pair = np.unique(np.minimum(a, b) * n + np.maximum(a, b))
            lo, hi = pair // n, pair % n
            dist = np.bitwise_count(sig[lo] ^ sig[hi]).sum(axis=1).astype(np.int64)
            ok = dist <= self.threshold
            found.append(np.stack([lo[ok], hi[ok], dist[ok]], axis=1))
            pending_a.clear()
            pending_b.clear()
            pending = 0

        start, end = bounds
        for a, b in _chunk_candidates(extract_bits(sig, start, end), end - start):
            if len(a):
                pending_a.append(a)
                pending_b.append(b)
                pending += len(a)
                if pending >= _VERIFY_BATCH:
                    verify()
        verify()
        return np.concatenate(found) if found else np.empty((0, 3), np.int64)


def near_pairs(signatures: np.ndarray, threshold: int, executor=None, on_chunk: Callable[[], None] | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs (i < j) of rows of (N, W) uint64 signatures within `threshold` bits, with their
    distances. Exact: the same pairs as comparing every pair. Chunks are searched by `executor`
    (its map) when given, else here; on_chunk() after each."""
    search = ChunkSearch(np.ascontiguousarray(signatures, dtype=np.uint64), threshold)
    return _search_chunks(search, chunk_bounds(search.signatures.shape[1] * 64, threshold), executor, on_chunk)


def _search_chunks(search: Callable, bounds: list, executor, on_chunk: Callable[[], None] | None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every chunk's pairs, by `executor` (its map) when given, else here; each pair once."""
    found: list[np.ndarray] = []

    def done(_, pairs: np.ndarray) -> None:
        found.append(pairs)
        if on_chunk:
            on_chunk()

    if executor is None:
        for b in bounds:
            done(b, search(b))
    else:
        executor.map(search, bounds, done)
    pairs = np.concatenate(found) if found else np.empty((0, 3), np.int64)
    pairs = np.unique(pairs, axis=0) if len(pairs) else pairs
    return pairs[:, 0], pairs[:, 1], pairs[:, 2]


@dataclass(frozen=True, eq=False)
class CrossChunkSearch:
    """The (index, query) pairs within the threshold found through one chunk: every query's chunk
    key looked up among the index's sorted keys, as it is and with each bit flipped."""

    index: np.ndarray  # (N, W) uint64, contiguous
    queries: np.ndarray  # (M, W) uint64, contiguous
    threshold: int

    def __call__(self, bounds: tuple[int, int]) -> np.ndarray:
        """(k, 3) rows (index row, query row, distance), verified on the whole signature."""
        start, end = bounds
        keys = extract_bits(self.index, start, end)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        uniq, counts = sorted_keys[starts], np.diff(np.r_[starts, len(keys)])
        asked = extract_bits(self.queries, start, end)
        query_order = np.argsort(asked, kind="stable")
        sorted_asked = asked[query_order]
        found = []
        for flip in [None] + [np.uint64(1 << b) for b in range(end - start)]:
            # Flipping bit b keeps the queries with it clear in order, and those with it set too:
            # look-ups of sorted keys run through the index's keys once.
            if flip is None:
                groups = [(sorted_asked, query_order)]
            else:
                has = (sorted_asked & flip) != 0
                groups = [(sorted_asked[~has] | flip, query_order[~has]), (sorted_asked[has] ^ flip, query_order[has])]
            for wanted, who in groups:
                at = np.minimum(np.searchsorted(uniq, wanted), len(uniq) - 1)
                hit = uniq[at] == wanted
                lo = starts[at[hit]]
                queries, index = _expand(who[hit], lo, lo + counts[at[hit]], order)
                self._verify(index, queries, found)
        return np.concatenate(found) if found else np.empty((0, 3), np.int64)

    def _verify(self, index: np.ndarray, queries: np.ndarray, found: list) -> None:
        for s in range(0, len(queries), _VERIFY_BATCH):
            a, b = index[s : s + _VERIFY_BATCH], queries[s : s + _VERIFY_BATCH]
            dist = np.bitwise_count(self.index[a] ^ self.queries[b]).sum(axis=1).astype(np.int64)
            ok = dist <= self.threshold
            found.append(np.stack([a[ok], b[ok], dist[ok]], axis=1))


def cross_pairs(index: np.ndarray, queries: np.ndarray, threshold: int, executor=None,
                on_chunk: Callable[[], None] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (index row, query row) pairs within `threshold` bits, with their distances; exact, as
    near_pairs, between two sets of signatures instead of within one."""
    search = CrossChunkSearch(np.ascontiguousarray(index, np.uint64), np.ascontiguousarray(queries, np.uint64),
                              threshold)
    bounds = chunk_bounds(search.index.shape[1] * 64, threshold) if len(index) and len(queries) else []
    return _search_chunks(search, bounds, executor, on_chunk)


def brute_force_pairs(signatures: np.ndarray, threshold: int) -> set[tuple[int, int]]:
    """All pairs within threshold by comparing every pair (for checking; O(N²))."""
    sig = np.ascontiguousarray(signatures, dtype=np.uint64)
    out = set()
    for i in range(len(sig) - 1):
        d = np.bitwise_count(sig[i + 1 :] ^ sig[i]).sum(axis=1)
        for j in np.flatnonzero(d <= threshold):
            out.add((i, i + 1 + int(j)))
    return out
