"""Search of all pairs of signatures within a Hamming threshold, through look-up keys made of some
of their bits (bands); candidates sharing a key are verified on the whole signature, so no pair
beyond the threshold is ever reported. Two ways to choose the bands:

- exact, by multi-index hashing: a signature is B bits (8 × 64); split into m chunks, two
  signatures within T bits differ in at most ⌊T/m⌋ bits of some chunk (pigeonhole). With
  m = ⌊T/2⌋ + 1 that is at most one bit, so probing every chunk for equal values and for values
  one bit apart finds every pair within T. But a chunk is then only B/m bits (24 at T = 40), so
  the candidates a probe meets by chance grow with the corpus, and the time with its square.
- sampled (locality-sensitive hashing by bit sampling): L bands of k bits at random places, k
  growing with the corpus (so chance candidates stay few), probed for equal values only. A pair
  d bits apart shares a band's k bits with probability C(B-d, k)/C(B, k); L is the fewest bands
  that miss a pair at the threshold with probability at most MISS (closer pairs far less often).
  Time grows about as N^1.2 (measured between 1.35M and 5M clips; N^1.65 exact).

Everything is vectorized numpy over a table of each band's keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpus.dedup.spill import OnDisk, Shipped, loaded, removed, rows, shipped

# A look-up key: bit ranges [start, end) of the signature, concatenated
Band = tuple[tuple[int, int], ...]
# The chance that sampled bands miss a pair exactly at the threshold (closer pairs share more bands:
# at 3/4 of it, a miss is a few in a million)
MISS = 1e-3
_SEGMENT_BITS = 5  # a sampled band's bits come in runs of this many (cheap to extract)
_WIDEST_SAMPLED = 40  # bits of a sampled band's key (2^36 rows, 16 keys each)


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


# An index of more rows is searched in parts: a part's signatures, keys and order take
# about 100 bytes a row (1.7 GB), and every part reads the queries again
PART_ROWS = 1 << 24
_READ_ROWS = 1 << 18  # index rows read from a file at once (16 MB)
TABLE_BITS = 25  # the longest look-up key: a table of 2^25 starts (128 MB)


def _key_width(rows: int, widest: int | None = None) -> int:
    """Bits of a look-up key: about 16 possible keys per row of the index (fewer bits crowd the
    keys, so more candidates reach the signatures: one bit fewer took 30-40% longer at 1.35M rows;
    more cost more bands, or more probes), and at most `widest` (default TABLE_BITS)."""
    return min(widest or TABLE_BITS, max(8, rows.bit_length() + 4))


def exact_bands(total_bits: int, threshold: int, rows: int) -> list[Band]:
    """Multi-index hashing's chunks, each keyed by its last _key_width bits: two chunks within one
    bit have keys within one bit, so probing the key finds every pair the whole chunk would (and a
    few more, which verification drops)."""
    return [((max(start, end - _key_width(rows)), end),) for start, end in chunk_bounds(total_bits, threshold)]


def sampled_bands(total_bits: int, threshold: int, rows: int, miss: float = MISS) -> list[Band]:
    """L bands of _key_width bits, runs of _SEGMENT_BITS at distinct places drawn with a fixed seed
    (the same bands in every run), L the fewest that miss a pair at the threshold with probability
    at most `miss` were its differing bits anywhere."""
    bits = min(_key_width(rows, _WIDEST_SAMPLED), total_bits - threshold)
    shared = float(np.prod((total_bits - threshold - np.arange(bits)) / (total_bits - np.arange(bits))))
    count = 1 if shared >= 1 else int(np.ceil(np.log(miss) / np.log1p(-shared)))
    slots = total_bits // _SEGMENT_BITS
    runs = [_SEGMENT_BITS] * (bits // _SEGMENT_BITS) + ([bits % _SEGMENT_BITS] if bits % _SEGMENT_BITS else [])
    rng = np.random.default_rng(0)
    bands = []
    for _ in range(count):
        at = np.sort(rng.choice(slots, len(runs), replace=False)) * _SEGMENT_BITS
        bands.append(tuple((int(a), int(a) + r) for a, r in zip(at, runs, strict=True)))
    return bands


def search_bands(total_bits: int, threshold: int, rows: int, exact: bool = False) -> tuple[list[Band], bool]:
    """The bands of a search over an index of `rows` signatures, and whether they are probed with
    each bit flipped (exact). Sampled unless `exact`, or unless they would take more probes than
    the exact search (a threshold so wide that few bits of a band survive)."""
    chunks = exact_bands(total_bits, threshold, rows)
    if exact:
        return chunks, True
    sampled = sampled_bands(total_bits, threshold, rows)
    exact_probes = sum(e - s + 1 for (s, e), in chunks)
    return (chunks, True) if len(sampled) >= exact_probes else (sampled, False)


@dataclass(frozen=True, eq=False)
class ChunkSearch:
    """The (index row, query row) pairs within the threshold found through one band: one task of
    the search, so bands run in parallel. Picklable; an executor ships it to its workers (its
    signatures as files where they share this machine's disk).

    The index is sorted by chunk key into a table of where each key's rows start (one uint32 per
    possible key) and a bitmap of the keys present (a few MB: it stays in cache). Each query's key,
    as it is (and with each bit flipped, when `flips`), is tested in the bitmap; only the hits reach the table and
    the signatures. Queries go a block at a time, read from their file, so every step's arrays stay
    in cache and only the index is held whole.

    An index of more than part_rows rows is searched in parts, by the first bits of its key (2^p
    parts of about equal size, each sorted and probed on its own, the queries read once per part):
    a worker's memory is that of a part whatever the corpus' size. A probe reaches another part
    only by flipping one of those first bits, so each pair is still found exactly once."""

    index: Shipped  # (N, W) uint64
    queries: Shipped | None  # (M, W) uint64; None: pairs within the index, row < row
    threshold: int
    skip_absent: bool = False  # queries that are all zero (an item without that signature) find nothing
    part_rows: int = PART_ROWS
    flips: bool = True  # probe each key with each bit flipped too (exact_bands), or as it is (sampled)
    group: int = 0  # when > 0: query row q is one of index row q // group's own (views), never paired with it

    def __call__(self, band: Band) -> np.ndarray:
        """(k, 3) int64 rows (index row, query row, distance), verified on the whole signature;
        within the index, (row, later row, distance)."""
        bits = sum(end - start for start, end in band)
        part_bits = min(bits, max(0, -(-len(self.index) // self.part_rows) - 1).bit_length())
        keys = self._keys(self.index, band)  # (N,) the whole index' keys: 8 bytes a row
        found = [self._part(keys, part, part_bits, band, bits) for part in range(1 << part_bits)]
        pairs = np.concatenate(found)
        if self.queries is None:
            pairs[:, :2].sort(axis=1)
        return pairs

    @staticmethod
    def _keys(array: Shipped, band: Band) -> np.ndarray:
        return np.concatenate([band_keys(rows(array, s, s + _READ_ROWS), band)
                               for s in range(0, len(array), _READ_ROWS)] or [np.empty(0, np.int64)])

    def _part(self, all_keys: np.ndarray, part: int, part_bits: int, band: Band, bits: int) -> np.ndarray:
        """The pairs whose index row's key begins with `part` (its first part_bits bits)."""
        low_bits = bits - part_bits
        mine = np.flatnonzero(all_keys >> low_bits == part) if part_bits else None
        keys = (all_keys if mine is None else all_keys[mine]) & ((1 << low_bits) - 1)
        # The table holds a key's last table_bits, and a wider key is compared whole before the
        # signatures are read. Probes with flips need the whole key (at most TABLE_BITS); a sampled
        # key gets about two slots a row, so that the table and its bitmap stay small (the bitmap
        # in the CPU's cache).
        table_bits = low_bits if self.flips else min(low_bits, TABLE_BITS, max(8, len(keys).bit_length() + 1))
        low_mask, table_mask, wide = (1 << low_bits) - 1, (1 << table_bits) - 1, low_bits > table_bits
        # by table key, then by the rest: a bucket's rows lie together, and equal keys within it
        order = np.argsort(((keys & table_mask) << (low_bits - table_bits)) | (keys >> table_bits))
        rows_of = order if mine is None else mine[order]  # part position -> index row
        # the part's signatures in row order, gathered for the candidates only (sorting them all by
        # key for every band took a third of the search)
        signatures = self._members(mine)
        keys = keys[order]
        table = _starts(keys & table_mask, table_bits)
        present = np.packbits(table[1:] != table[:-1], bitorder="little")
        within = self.queries is None
        # Within one set, a pair of equal keys comes from the buckets themselves, and a pair one bit
        # apart only from the row whose bit is clear: each pair is found once.
        found = [self._equal_keys(signatures, order, rows_of, keys)] if within else []
        if within and not self.flips:  # sampled bands within one set: equal keys are every probe
            return found[0]
        flips = np.left_shift(1, np.arange(low_bits, dtype=np.int64)) if self.flips else np.empty(0, np.int64)
        flips = flips if within else np.r_[0, flips]
        # a probe's byte of the bitmap and its bit there, flipped apart: no array of probes is made
        byte_flips, bit_flips = (flips >> 3)[:, None], (flips & 7).astype(np.uint8)[:, None]
        queries = self.index if within else self.queries
        step = _PROBES // len(flips)
        for s in range(0, len(queries), step):
            block = rows(queries, s, s + step)
            full = band_keys(block, band)
            asked, other = full & table_mask, (full >> low_bits) ^ part
            # probes in this part: the query's own part with a low bit flipped (or none), and from
            # a part one first bit away with that bit flipped (within one set, from its clear side)
            mine = np.flatnonzero(other == 0) if part_bits else None
            probed = asked if mine is None else asked[mine]
            hit = np.flatnonzero(present[(probed >> 3)[None, :] ^ byte_flips] &
                                 np.left_shift(np.uint8(1), (probed & 7).astype(np.uint8)[None, :] ^ bit_flips))
            asker, flip = hit % max(len(probed), 1), flips[hit // max(len(probed), 1)]
            if mine is not None:
                asker = mine[asker]
            if within:
                clear = (asked[asker] & flip) == 0
                asker, flip = asker[clear], flip[clear]
            if part_bits and self.flips:  # probes from a part one first bit away: their low bits as they are
                near = self._next_door(asked, full >> low_bits, other, present, within)
                asker, flip = np.r_[asker, near], np.r_[flip, np.zeros(len(near), np.int64)]
            if self.skip_absent:
                live = nonzero_rows(block[asker])
                asker, flip = asker[live], flip[live]
            key = asked[asker] ^ flip
            lo, count = table[key].astype(np.int64), (table[key + 1] - table[key]).astype(np.int64)
            at = _ranges(lo, count)  # part positions
            asker = np.repeat(asker, count)
            if wide:
                same = keys[at] == (full[asker] & low_mask)
                at, asker = at[same], asker[same]
            if self.group:  # an item's own views against its whole: not a pair, and found in most bands
                other = rows_of[at] != (asker + s) // self.group
                at, asker = at[other], asker[other]
            found.append(self._verified(signatures[order[at]], block[asker], at, asker + s, rows_of))
        return np.concatenate(found) if found else np.empty((0, 3), np.int64)

    @staticmethod
    def _next_door(asked: np.ndarray, own: np.ndarray, other: np.ndarray, present: np.ndarray, within: bool
                   ) -> np.ndarray:
        """Queries (positions in the block) whose own part is one first bit away from this part and
        whose low key is present here; within one set only those whose differing bit is clear (the
        pair's other row, in the other part, does not probe this way)."""
        near = (other != 0) & ((other & (other - 1)) == 0)
        if within:
            near &= (own & other) == 0
        near = np.flatnonzero(near)
        return near[(present[asked[near] >> 3] >> (asked[near] & 7).astype(np.uint8)) & 1 == 1]

    def _members(self, mine: np.ndarray | None) -> np.ndarray:
        """The index' signatures at the ascending rows `mine` (None: all), read a block at a time
        (the index is never held twice)."""
        if mine is None:
            return loaded(self.index)
        if not isinstance(self.index, OnDisk):
            return self.index[mine]
        out = np.empty((len(mine), self.index.shape[1]), np.uint64)
        for s in range(0, len(self.index), _READ_ROWS):
            lo, hi = np.searchsorted(mine, [s, s + _READ_ROWS])
            if hi > lo:
                out[lo:hi] = self.index.rows(s, s + _READ_ROWS)[mine[lo:hi] - s]
        return out

    def _equal_keys(self, signatures: np.ndarray, order: np.ndarray, rows_of: np.ndarray, keys: np.ndarray
                    ) -> np.ndarray:
        """Pairs within the threshold among rows of equal keys (adjacent in `keys`, the part's keys in
        key order; signatures in row order)."""
        position = np.arange(len(keys))
        if not len(keys):
            return np.empty((0, 3), np.int64)
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        ends = np.repeat(np.r_[starts[1:], len(keys)], np.diff(np.r_[starts, len(keys)]))
        later = ends - position - 1  # the rows after each with its key
        a, b = np.repeat(position, later), _ranges(position + 1, later)
        return self._verified(signatures[order[a]], signatures[order[b]], a, b, rows_of, rows_of)

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


def band_keys(words: np.ndarray, band: Band) -> np.ndarray:
    """(N,) int64 look-up keys of (N, W) uint64 signatures: the band's bit ranges, concatenated."""
    keys = np.zeros(len(words), np.int64)
    for start, end in band:
        keys <<= end - start
        keys |= extract_bits(words, start, end).astype(np.int64)
    return keys


_PROBES = 1 << 18  # probes at once (queries in a block, times the flips): their arrays stay in cache


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


def _for_workers(array: Shipped, spill: Path | None) -> tuple[Shipped, bool]:
    """The signatures as workers get them, and whether they were saved here (to remove after)."""
    if spill is None or not isinstance(array, np.ndarray):
        return array, False
    return shipped(np.ascontiguousarray(array, np.uint64), spill), True


def near_pairs(signatures: Shipped, threshold: int, executor=None, on_chunk: Callable[[], None] | None = None,
               spill: Path | None = None, part_rows: int | None = None, exact: bool = False
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (i < j) of rows of (N, W) uint64 signatures (in memory or in a file) within `threshold`
    bits, with their distances: through sampled bands, or every such pair when `exact`
    (search_bands). Bands are searched by `executor` (its map) when given, else here; on_chunk()
    after each. spill: a folder where signatures in memory are saved for the executor's workers to
    read (they share this machine's disk). part_rows: the most index rows a worker sorts at once
    (ChunkSearch; default PART_ROWS, read when called)."""
    bands, flips = search_bands(signatures.shape[1] * 64, threshold, len(signatures), exact)
    index, saved = _for_workers(signatures, spill)
    search = ChunkSearch(index, None, threshold, part_rows=part_rows or PART_ROWS, flips=flips)
    return _search_bands(search, bands, executor, on_chunk, [index] if saved else [])


def _search_bands(search: Callable, bands: list[Band], executor, on_chunk: Callable[[], None] | None,
                  saved: list[Shipped]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every band's pairs, by `executor` (its map) when given, else here; each pair once. The
    signatures saved for the workers are removed after."""
    found: list[np.ndarray] = []
    unique_rows = 0  # rows of found[0] once merged: close pairs come from most bands, kept once

    def done(_, pairs: np.ndarray) -> None:
        nonlocal unique_rows
        found.append(pairs)
        if sum(map(len, found)) > 2 * unique_rows + (1 << 20):
            found[:] = [_unique_pairs(np.concatenate(found))]
            unique_rows = len(found[0])
        if on_chunk:
            on_chunk()

    try:
        if executor is None:
            for b in bands:
                done(b, search(b))
        else:
            executor.map(search, bands, done)
    finally:
        removed(*saved)
    pairs = _unique_pairs(np.concatenate(found)) if found else np.empty((0, 3), np.int64)
    return pairs[:, 0], pairs[:, 1], pairs[:, 2]


def _unique_pairs(pairs: np.ndarray) -> np.ndarray:
    """(k, 3) rows (a, b, distance), each (a, b) once, sorted (a pair's distance is the same
    whichever band found it). By one int64 code per pair: numpy's unique of rows is many times
    slower."""
    if not len(pairs):
        return pairs
    code = pairs[:, 0] * (int(pairs[:, 1].max()) + 1) + pairs[:, 1]
    _, first = np.unique(code, return_index=True)
    return pairs[first]


def cross_pairs(index: Shipped, queries: Shipped, threshold: int, executor=None,
                on_chunk: Callable[[], None] | None = None, skip_absent: bool = False, spill: Path | None = None,
                part_rows: int | None = None, exact: bool = False, group: int = 0
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(index row, query row) pairs within `threshold` bits, with their distances, as near_pairs
    between two sets of signatures instead of within one. skip_absent: all-zero queries (items
    without that signature) find nothing. group > 0: query q is index row q // group's own (its
    views), not paired with it. spill, part_rows, exact: as near_pairs'."""
    bands, flips = search_bands(index.shape[1] * 64, threshold, len(index), exact)
    (index, saved_index), (queries, saved_queries) = _for_workers(index, spill), _for_workers(queries, spill)
    search = ChunkSearch(index, queries, threshold, skip_absent, part_rows or PART_ROWS, flips, group)
    saved = [a for a, s in ((index, saved_index), (queries, saved_queries)) if s]
    return _search_bands(search, bands if len(index) and len(queries) else [], executor, on_chunk, saved)


def brute_force_pairs(signatures: np.ndarray, threshold: int) -> set[tuple[int, int]]:
    """All pairs within threshold by comparing every pair (for checking; O(N²))."""
    sig = np.ascontiguousarray(signatures, dtype=np.uint64)
    out = set()
    for i in range(len(sig) - 1):
        d = np.bitwise_count(sig[i + 1 :] ^ sig[i]).sum(axis=1)
        for j in np.flatnonzero(d <= threshold):
            out.add((i, i + 1 + int(j)))
    return out
