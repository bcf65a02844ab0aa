"""The keys of a mix's clips without holding them as Python strings: a 64-bit hash of each key
(numpy over the Arrow buffers), a sort of the hashes to find keys that two clips share, and the
strings themselves only for those. A 25M-clip mix costs 200 MB of hashes, not gigabytes of
strings in a set."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa

from manifests.sample import fit_key

_MULTIPLIER = np.uint64(0x100000001B3)  # odd, so that no byte's weight is ever zero modulo 2**64
_CHUNK = 1 << 16  # keys hashed at a time: ~30 bytes of temporaries per key byte, a few tens of MB


def _powers(count: int) -> np.ndarray:
    with np.errstate(over="ignore"):  # modulo 2**64 is the point
        return np.cumprod(np.r_[np.uint64(1), np.full(max(count - 1, 0), _MULTIPLIER)], dtype=np.uint64)


def _hash_chunk(keys: pa.Array) -> np.ndarray:
    """Polynomial hash of each string's bytes, mixed with its length."""
    keys = keys.cast(pa.large_string()) if pa.types.is_string(keys.type) else keys
    offsets = np.frombuffer(keys.buffers()[1], np.int64, count=len(keys) + 1, offset=keys.offset * 8)
    data = np.frombuffer(keys.buffers()[2], np.uint8) if keys.buffers()[2] is not None else np.empty(0, np.uint8)
    data = data[offsets[0]:offsets[-1]].astype(np.uint64)
    lengths = np.diff(offsets)
    local = offsets - offsets[0]
    # each byte weighs MULTIPLIER ** (bytes after it in its key)
    after = np.repeat(local[1:], lengths) - 1 - np.arange(len(data))
    with np.errstate(over="ignore"):
        weighted = data * _powers(int(lengths.max(initial=0)) + 1)[after]
        sums = np.add.reduceat(weighted, local[:-1].clip(max=max(len(data) - 1, 0))) if len(data) else \
            np.zeros(len(keys), np.uint64)
        sums[lengths == 0] = 0  # reduceat gives the next key's first byte for an empty one
        return sums ^ (lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))


def key_hashes(keys: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A uint64 per string of `keys` (equal strings, equal hashes)."""
    chunks = keys.chunks if isinstance(keys, pa.ChunkedArray) else [keys]
    out = [np.empty(0, np.uint64)]
    for chunk in chunks:
        out += [_hash_chunk(chunk.slice(start, _CHUNK)) for start in range(0, len(chunk), _CHUNK)]
    return np.concatenate(out)


def unique_keys(hashes: np.ndarray, keys_of: Callable[[list[int]], list[str]]) -> dict[int, str]:
    """Which clips must change keys so that no two are equal, and to what: a clip whose key an
    earlier clip already has gets '-c' until its key is free, the earlier keeps it (the same as
    renaming clip by clip in order). `hashes` (changed in place) are the keys' hashes in output
    order; `keys_of(clips)` reads the keys of the few clips whose hashes are equal."""
    renamed: dict[int, str] = {}
    known: dict[int, str] = {}
    while True:
        order = np.argsort(hashes, kind="stable")  # equal hashes stay in output order
        same = hashes[order][1:] == hashes[order][:-1]
        if not same.any():
            return renamed
        starts = np.flatnonzero(np.r_[True, ~same])  # groups of equal hashes, in the sorted order
        ends = np.r_[starts[1:], len(order)]
        groups = [order[a:b].tolist() for a, b in zip(starts, ends, strict=True) if b - a > 1]
        need = [i for group in groups for i in group if i not in renamed and i not in known]
        known.update(zip(need, keys_of(need), strict=True))
        bumped = []
        for group in groups:
            taken = set()
            for i in group:
                key = renamed.get(i) or known[i]
                if key in taken:
                    bumped.append(i)
                taken.add(key)
        if not bumped:  # equal hashes of different keys only
            return renamed
        for i in bumped:
            renamed[i] = fit_key(renamed.get(i) or known[i], "-c")
        hashes[bumped] = key_hashes(pa.array([renamed[i] for i in bumped], pa.large_string()))
