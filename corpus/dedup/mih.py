"""Exact search of all pairs of signatures within a Hamming threshold, by multi-index hashing.

A signature is B bits (8 × 64). Split into m chunks; if two signatures differ in at most T
bits, then by the pigeonhole principle some chunk differs in at most ⌊T/m⌋ bits. With
m = ⌊T/2⌋ + 1 that is at most one bit, so probing every chunk for equal values and for values
one bit apart finds every pair within T: the search is exact, not approximate. Candidates are
then verified on the whole signature. Everything is vectorized numpy over a table of each
chunk's keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpus.dedup.spill import Shipped, loaded, removed, shipped


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


TABLE_BITS = 25  # the longest look-up key: a table of 2^25 starts (128 MB)


def _key_bounds(start: int, end: int, rows: int) -> tuple[int, int]:
    """The bits of a chunk its look-up key holds: its last few, about 16 possible keys per row of
    the index (fewer bits crowd the keys, so more candidates reach the signatures: one bit fewer
    took 30-40% longer at 1.35M rows; more would make the table larger than the rows need), and at
    most TABLE_BITS. Two chunks within one bit have keys within one bit, so probing the key finds
    every pair the whole chunk would (and a few more, which verification drops)."""
    return max(start, end - min(TABLE_BITS, max(8, rows.bit_length() + 4))), end


@dataclass(frozen=True, eq=False)
class ChunkSearch:
    """The (index row, query row) pairs within the threshold found through one chunk: one task of
    the search, so chunks run in parallel. Picklable; an executor ships it (and its signatures)
    once per worker.

    The index is sorted by chunk key into a table of where each key's rows start (one uint32 per
    possible key) and a bitmap of the keys present (a few MB: it stays in cache). Each query's key,
    as it is and with each bit flipped, is tested in the bitmap; only the hits reach the table and
    the signatures. Queries go a block at a time, so every step's arrays stay in cache too."""

    index: Shipped  # (N, W) uint64, contiguous
    queries: Shipped | None  # (M, W) uint64, contiguous; None: pairs within the index, row < row
    threshold: int
    skip_absent: bool = False  # queries that are all zero (an item without that signature) find nothing

    def __call__(self, bounds: tuple[int, int]) -> np.ndarray:
        """(k, 3) int64 rows (index row, query row, distance), verified on the whole signature;
        within the index, (row, later row, distance)."""
        index, queries = loaded(self.index), loaded(self.queries)
        start, end = _key_bounds(*bounds, len(index))
        bits = end - start
        keys = extract_bits(index, start, end).astype(np.int64)
        order = np.argsort(keys)
        keys = keys[order]
        table = _starts(keys, bits)
        present = np.packbits(table[1:] != table[:-1], bitorder="little")
        within = queries is None
        queries = index if within else queries
        index = index[order]  # in key order: a bucket's signatures lie together
        # Within one set, a pair of equal keys comes from the buckets themselves, and a pair one bit
        # apart only from the row whose bit is clear: each pair is found once.
        found = [self._equal_keys(index, order, keys, table)] if within else []
        flips = np.left_shift(1, np.arange(bits, dtype=np.int64))
        flips = flips if within else np.r_[0, flips]
        # a probe's byte of the bitmap and its bit there, flipped apart: no array of probes is made
        byte_flips, bit_flips = (flips >> 3)[:, None], (flips & 7).astype(np.uint8)[:, None]
        for s in range(0, len(queries), _PROBE_BLOCK):
            block = queries[s : s + _PROBE_BLOCK]
            asked = extract_bits(block, start, end).astype(np.int64)
            hit = np.flatnonzero(present[(asked >> 3)[None, :] ^ byte_flips] &
                                 np.left_shift(np.uint8(1), (asked & 7).astype(np.uint8)[None, :] ^ bit_flips))
            asker, flip = hit % len(block), flips[hit // len(block)]
            if within:
                clear = (asked[asker] & flip) == 0
                asker, flip = asker[clear], flip[clear]
            if self.skip_absent:
                live = nonzero_rows(block)[asker]
                asker, flip = asker[live], flip[live]
            key = asked[asker] ^ flip
            lo, count = table[key].astype(np.int64), (table[key + 1] - table[key]).astype(np.int64)
            at = _ranges(lo, count)  # index positions
            asker = np.repeat(asker, count)
            found.append(self._verified(index[at], block[asker], at, asker + s, order))
        pairs = np.concatenate(found)
        if within:
            pairs[:, :2].sort(axis=1)
        return pairs

    def _equal_keys(self, index: np.ndarray, order: np.ndarray, keys: np.ndarray, table: np.ndarray) -> np.ndarray:
        """Pairs within the threshold among the rows of each bucket (equal keys)."""
        position = np.arange(len(keys))
        later = table[keys + 1].astype(np.int64) - position - 1  # the rows after each in its bucket
        a, b = np.repeat(position, later), _ranges(position + 1, later)
        return self._verified(index[a], index[b], a, b, order, order)

    def _verified(self, x: np.ndarray, y: np.ndarray, x_at: np.ndarray, y_at: np.ndarray, x_rows: np.ndarray,
                  y_rows: np.ndarray | None = None) -> np.ndarray:
        """(k, 3) rows (x row, y row, distance) of the candidate pairs within the threshold; a
        candidate's row is x_rows[x_at] (y_rows[y_at], or y_at itself), looked up for the few
        that pass."""
        np.bitwise_xor(x, y, out=x)  # x is a gathered copy
        dist = _bits_apart(x)
        ok = dist <= self.threshold
        y_at = y_at[ok]
        return np.stack([x_rows[x_at[ok]], y_at if y_rows is None else y_rows[y_at], dist[ok]], axis=1)


_PROBE_BLOCK = 8192  # queries probed at once: with every flip, about 200k probes, which stay in cache


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """starts[i], starts[i] + 1, ... (counts[i] values) for every i, one after the other."""
    return np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())


def nonzero_rows(words: np.ndarray) -> np.ndarray:
    """Rows of (N, W) uint64 with a bit set (a reduction along a row of 8 is slow in numpy)."""
    seen = words[:, 0].copy()
    for w in range(1, words.shape[1]):
        seen |= words[:, w]
    return seen != 0


def _bits_apart(xor: np.ndarray) -> np.ndarray:
    """(N,) int64 bits set per row of (N, W) uint64. For 8 words, the 8 bytes of counts are read as
    one word and summed in 16-bit lanes (a numpy reduction along a row of 8 is 6x slower)."""
    counts = np.bitwise_count(xor)
    if xor.shape[1] != 8:
        return counts.sum(axis=1, dtype=np.int64)
    packed = counts.view(np.uint64).ravel()
    lanes = np.uint64(0x00FF00FF00FF00FF)
    pairs = (packed & lanes) + ((packed >> np.uint64(8)) & lanes)  # 4 lanes of at most 128
    return ((pairs * np.uint64(0x0001000100010001)) >> np.uint64(48)).astype(np.int64)


def _starts(sorted_keys: np.ndarray, bits: int) -> np.ndarray:
    """(2^bits + 1,) uint32: where each key's rows start among the sorted keys (the next key's
    start is where they end)."""
    first = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]) if len(sorted_keys) else []
    table = np.zeros((1 << bits) + 1, np.uint32)
    table[sorted_keys[first] + 1] = np.diff(np.r_[first, len(sorted_keys)])
    return np.cumsum(table, out=table)


def _signatures(array: np.ndarray, spill: Path | None) -> Shipped:
    return shipped(np.ascontiguousarray(array, np.uint64), spill)


def near_pairs(signatures: np.ndarray, threshold: int, executor=None, on_chunk: Callable[[], None] | None = None,
               spill: Path | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs (i < j) of rows of (N, W) uint64 signatures within `threshold` bits, with their
    distances. Exact: the same pairs as comparing every pair. Chunks are searched by `executor`
    (its map) when given, else here; on_chunk() after each. spill: a folder where the signatures
    are saved for the executor's workers to map (they share this machine's disk)."""
    search = ChunkSearch(_signatures(signatures, spill), None, threshold)
    return _search_chunks(search, chunk_bounds(signatures.shape[1] * 64, threshold), executor, on_chunk)


def _search_chunks(search: Callable, bounds: list, executor, on_chunk: Callable[[], None] | None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every chunk's pairs, by `executor` (its map) when given, else here; each pair once. The
    signatures it saved for the workers are removed after."""
    found: list[np.ndarray] = []

    def done(_, pairs: np.ndarray) -> None:
        found.append(pairs)
        if on_chunk:
            on_chunk()

    try:
        if executor is None:
            for b in bounds:
                done(b, search(b))
        else:
            executor.map(search, bounds, done)
    finally:
        removed(search.index, search.queries)
    pairs = np.concatenate(found) if found else np.empty((0, 3), np.int64)
    pairs = np.unique(pairs, axis=0) if len(pairs) else pairs
    return pairs[:, 0], pairs[:, 1], pairs[:, 2]


def cross_pairs(index: np.ndarray, queries: np.ndarray, threshold: int, executor=None,
                on_chunk: Callable[[], None] | None = None, skip_absent: bool = False, spill: Path | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (index row, query row) pairs within `threshold` bits, with their distances; exact, as
    near_pairs, between two sets of signatures instead of within one. skip_absent: all-zero
    queries (items without that signature) find nothing. spill: as near_pairs'."""
    search = ChunkSearch(_signatures(index, spill), _signatures(queries, spill), threshold, skip_absent)
    bounds = chunk_bounds(index.shape[1] * 64, threshold) if len(index) and len(queries) else []
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
