"""Planning a mix: which clips of which corpora go into it, under which keys, in which output
unit (one shard each), and what became of every candidate clip. Deterministic: the same inputs,
recipe, scale and seed give the same plan, whose digest a resumed mix checks.

The plan is made over columns, never over rows: the few columns it decides on (a hash of each
key, shards, sizes, dedup's verdicts, the quality scores a recipe sets) as numpy arrays, and the
plan itself as arrays of (source, row) in output order. Key strings are read from the tables a
row group at a time when needed, never held. A 25M-clip plan takes a few GB where a dict per clip
took about 9 KB each (tests/corpus/mix/row_planner.py, the planner it must equal). The clip
rows themselves are gathered a batch at a time (corpus/mix/gather.py)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpus.compact import ROW_GROUP
from corpus.errors import InputError
from corpus.mix.keys import key_hashes, unique_keys
from corpus.shard_writer import TAR_OVERHEAD
from manifests.layout import CorpusLayout
from manifests.recipe import THRESHOLD_KEYS, Recipe
from manifests.sample import MAX_KEY_BYTES, fit_key
from manifests.tables import read_batches

CLUSTER_CAP = -2  # kept-out code of a clip that max_per_cluster left out
DIGEST_CHUNK = 1 << 20  # output clips hashed at a time into the digest


@dataclass
class Source:
    """One input corpus as the columns a plan decides on, with dedup's verdict on each clip."""

    name: str
    corpus: str
    hashes: np.ndarray  # of each clip_key (corpus/mix/keys.py)
    long: np.ndarray  # bool: the key is too long for a tar member name
    shard_names: list[str]
    shard: np.ndarray  # int32 index into shard_names; -1 where the row names none
    sizes: np.ndarray  # bytes of each clip
    keep: np.ndarray  # bool: dedup kept it (or dedup never ran)
    reason: pa.ChunkedArray  # dedup's reason for dropping it
    cluster: np.ndarray  # int: the clip's semantic cluster (dedup --embeddings); -1 where it has none
    scores: dict[str, np.ndarray] = field(default_factory=dict)  # quality columns the recipe sets; NaN: none
    out: np.ndarray = field(default_factory=lambda: np.empty(0, np.int8))  # -1, a threshold's index, CLUSTER_CAP

    def __len__(self) -> int:
        return len(self.sizes)

    def keys(self, rows: np.ndarray) -> Iterator[tuple[np.ndarray, pa.Array]]:
        """The clip_key of each of `rows`, read a row group at a time: (indices into `rows`,
        their keys) for each row group that holds some, in row order."""
        order = np.argsort(rows, kind="stable")
        wanted, offset = rows[order], 0
        for batch in read_batches(Path(self.corpus), "clips", ["clip_key"], ROW_GROUP):
            lo, hi = np.searchsorted(wanted, [offset, offset + batch.num_rows])
            if hi > lo:
                yield order[lo:hi], batch.column(0).take(pa.array(wanted[lo:hi] - offset))
            offset += batch.num_rows


def _concat(pieces: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate([np.empty(0, dtype), *pieces]).astype(dtype)


def _verdicts(root: Path, hashes: np.ndarray) -> tuple[np.ndarray, pa.ChunkedArray, np.ndarray, int]:
    """dedup's (keep, reason, cluster) for each clip (by its key's hash), and how many clips it
    judged; a clip dedup never judged is kept. Where a key has two verdicts, the last counts."""
    found, keep, reason, cluster = [], [], [], []
    for batch in read_batches(root, "dedup", ["clip_key", "keep", "reason", "cluster"], ROW_GROUP):
        found.append(key_hashes(batch.column(0)))
        keep.append(pc.fill_null(batch.column(1), True).to_numpy(zero_copy_only=False))
        reason.append(batch.column(2))
        cluster.append(pc.fill_null(batch.column(3), -1).to_numpy(zero_copy_only=False))
    found, keep, cluster = _concat(found, np.uint64), _concat(keep, bool), _concat(cluster, np.int32)
    reason = pa.chunked_array(reason, pa.string())
    if len(found) == len(hashes) and (found == hashes).all():  # dedup wrote them in the order of clips/
        return keep, reason, cluster, len(hashes)
    if not len(found):  # dedup never ran
        return np.ones(len(hashes), bool), pa.chunked_array([pa.nulls(len(hashes), pa.string())]), \
            np.full(len(hashes), -1, np.int32), 0
    order = np.argsort(found, kind="stable")
    last = np.searchsorted(found[order], hashes, side="right") - 1
    at = np.where((last >= 0) & (found[order][last.clip(0)] == hashes), order[last.clip(0)], -1)
    judged = at >= 0
    return (np.where(judged, keep[at], True), reason.take(pa.array(at, mask=~judged)),
            np.where(judged, cluster[at], -1).astype(np.int32), int(judged.sum()))


def source(name: str, root: Path, recipe: Recipe, allow_unfinished: bool = False) -> Source:
    """The columns of one input corpus, read a row group at a time (no table-wide temporaries)."""
    layout = CorpusLayout.at(root)
    if not layout.is_corpus():
        raise InputError(f"--input {name}={root}: not a vmae corpus folder (no build.json)")
    signals = [THRESHOLD_KEYS[k] for k in recipe.thresholds_of(name)]
    hashes, long, shard, sizes, scores, names = [], [], [], [], {s.column: [] for s in signals}, {}
    missing = dict.fromkeys(scores, 0)
    for batch in read_batches(root, "clips", ["clip_key", "shard", "bytes", *scores], ROW_GROUP):
        hashes.append(key_hashes(batch.column("clip_key")))
        long.append(pc.binary_length(batch.column("clip_key")).to_numpy(zero_copy_only=False) > MAX_KEY_BYTES)
        codes = pc.dictionary_encode(batch.column("shard"))
        ids = np.array([names.setdefault(n, len(names)) for n in codes.dictionary.to_pylist()] + [-1], np.int32)
        shard.append(ids[pc.fill_null(codes.indices, len(ids) - 1).to_numpy()])
        sizes.append(pc.fill_null(batch.column("bytes"), 0).to_numpy())
        for column in scores:
            missing[column] += batch.column(column).null_count
            scores[column].append(pc.fill_null(batch.column(column), np.nan).to_numpy())
    hashes = _concat(hashes, np.uint64)
    keep, reason, cluster, judged = _verdicts(root, hashes)
    if 0 < judged < len(hashes) and not allow_unfinished:  # dedup ran before the rest of the clips were built
        raise InputError(f"--input {name}={root}: dedup judged {judged} of its {len(hashes)} clips (it ran before "
                         "the build finished); the others would all count as kept. Rerun 'vmae corpus dedup' on it, "
                         "or pass --allow-unfinished")
    for s in signals:
        if missing[s.column]:
            raise InputError(f"recipe '{recipe.name}' sets {s.key} for '{name}', but {root} has {missing[s.column]} "
                             f"clips without a {s.column} score (built before vmae measured it): rebuild that corpus, "
                             f"or drop {s.key} for it")
    return Source(name, str(root), hashes, _concat(long, bool), list(names), _concat(shard, np.int32),
                  _concat(sizes, np.int64), keep, reason, cluster,
                  {c: _concat(v, np.float64) for c, v in scores.items()})


def kept_out(recipe: Recipe, pool: dict[str, Source]) -> None:
    """Per source: the first of the recipe's quality thresholds each clip fails (its index in
    the source's thresholds), -1 where it fails none; a missing score (NaN) never fails."""
    for name, clips in pool.items():
        clips.out = np.full(len(clips), -1, np.int8)
        for k, (key, limit) in reversed(list(enumerate(recipe.thresholds_of(name).items()))):
            s = THRESHOLD_KEYS[key]
            v = clips.scores[s.column]
            with np.errstate(invalid="ignore"):
                fails = v < limit if s.bound == "min" else v > limit  # NaN compares false
            clips.out[fails] = k  # in reverse: the first failing threshold is written last


def capped(usable: np.ndarray, cluster: np.ndarray, cap: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The usable clips (in their shuffled order) with at most `cap` from one cluster, and those
    the cap left out; clips without a cluster are never capped."""
    if cap is None:
        return usable, np.empty(0, np.int64)
    c = cluster[usable]
    rank = np.zeros(len(usable), np.int64)  # each clip's place among the usable clips of its cluster
    order = np.argsort(c, kind="stable")
    starts = np.flatnonzero(np.r_[True, c[order][1:] != c[order][:-1]])
    rank[order] = np.arange(len(usable)) - np.repeat(starts, np.diff(np.r_[starts, len(usable)]))
    keep = (c < 0) | (rank < cap)
    return usable[keep], usable[~keep]


def select(recipe: Recipe, pool: dict[str, Source], scale: float, rng) -> tuple[list, dict]:
    """Per source: rows of chosen clips (repeats allowed only when the recipe says so). Clips the
    recipe's max_per_cluster leaves out are marked CLUSTER_CAP."""
    chosen, report = [], {}
    for name, quota in recipe.scaled(scale).items():
        clips = pool[name]
        usable = np.flatnonzero(clips.keep & (clips.out == -1))
        if recipe.max_per_cluster is not None:  # which clips of a large cluster stay is chosen at random
            usable, left_out = capped(rng.permutation(usable), clips.cluster, recipe.max_per_cluster)
            clips.out[left_out] = CLUSTER_CAP
        if len(usable) >= quota:
            pick = rng.choice(usable, quota, replace=False)
        elif recipe.repeat and len(usable):
            pick = np.r_[usable, rng.choice(usable, quota - len(usable), replace=True)]
        else:
            pick = usable
        rng.shuffle(pick)
        chosen.append((name, pick))
        reasons = [s.reason for s in map(THRESHOLD_KEYS.get, recipe.thresholds_of(name))]
        codes = clips.out[clips.keep & (clips.out != -1)]
        counts = {("cluster_cap" if c == CLUSTER_CAP else reasons[c]): int(n)
                  for c, n in zip(*np.unique(codes, return_counts=True), strict=True)}
        report[name] = {"quota": quota, "available": len(clips), "dropped_by_dedup": int((~clips.keep).sum()),
                        "kept_out": counts, "selected": int(len(pick)), "shortfall": int(max(0, quota - len(pick)))}
    return chosen, report


def interleave(chosen: list, pool: dict[str, Source], rng) -> tuple[np.ndarray, np.ndarray]:
    """Each clip at (its rank in its source + jitter) / source size: sources spread evenly.
    Returns (source index in `pool`, row) of every output clip, in output order."""
    names = list(pool)
    sources, rows, position = [], [], []
    for name, pick in chosen:
        sources.append(np.full(len(pick), names.index(name), np.int16))
        rows.append(np.asarray(pick, np.int64))
        position.append((np.arange(len(pick)) + rng.random(len(pick))) / max(len(pick), 1))
    order = np.argsort(np.concatenate(position) if position else np.empty(0), kind="stable")
    return (np.concatenate(sources)[order] if sources else np.empty(0, np.int16),
            np.concatenate(rows)[order] if rows else np.empty(0, np.int64))


def uses_so_far(source: np.ndarray, row: np.ndarray, sizes: list[int]) -> np.ndarray:
    """For each output clip, how many times its (source, row) came before it (0 the first time)."""
    base = np.cumsum([0, *sizes])[:-1]
    ids = base[source] + row
    order = np.argsort(ids, kind="stable")
    starts = np.flatnonzero(np.r_[True, ids[order][1:] != ids[order][:-1]])
    earlier = np.empty(len(ids), np.int64)
    earlier[order] = np.arange(len(ids)) - np.repeat(starts, np.diff(np.r_[starts, len(ids)]))
    return earlier


def unit_starts(sizes: np.ndarray, shard_bytes: int) -> np.ndarray:
    """Where each output unit starts: consecutive clips while they fit `shard_bytes` with their
    tar headers (a clip larger alone is a unit), as corpus/shard_writer.group_by_bytes groups."""
    ends = np.cumsum(sizes + TAR_OVERHEAD)
    starts, at = [], 0
    while at < len(sizes):
        starts.append(at)
        before = ends[at - 1] if at else 0
        at = max(int(np.searchsorted(ends, before + shard_bytes, side="right")), at + 1)
    return np.asarray(starts, np.int64)


@dataclass
class MixPlan:
    names: list[str]  # the sources, in the order of --input
    source: np.ndarray  # per output clip, in output order: its source's index in `names`
    row: np.ndarray  # ... its row in that source's clips/
    sizes: np.ndarray  # ... its bytes
    earlier: np.ndarray  # ... how many times the same clip came before it (its key gets -r1, -r2, ...)
    renamed: dict[int, str]  # output clips whose key another clip had first (they get -c)
    unit_start: np.ndarray  # first output clip of each unit
    units: list[str]
    report: dict  # per source: quota, available, dropped by dedup, selected, shortfall
    digest: str = ""

    def unit_clips(self) -> np.ndarray:
        """How many output clips each unit holds."""
        return np.diff(np.r_[self.unit_start, len(self.source)])

    def unit_of(self) -> np.ndarray:
        """Each output clip's unit index."""
        return np.repeat(np.arange(len(self.units)), self.unit_clips())

    def shards(self) -> list[str]:
        """The tar each unit writes (one shard a unit)."""
        return [f"tars/{u}-0000.tar" for u in self.units]

    def base_keys(self, at: np.ndarray, origin: list[str]) -> list[str]:
        """The keys of output clips `at` before clashes, from their source keys `origin`: a
        repeat gets -rN, a key too long for a member name is shortened (manifests/sample.fit_key)."""
        return [fit_key(key, f"-r{n}" if n else "") for key, n in zip(origin, self.earlier[at].tolist(), strict=True)]

    def keys_of(self, pool: dict[str, Source], at: list[int]) -> list[str]:
        """The keys of a few output clips (read from their tables)."""
        at = np.asarray(at, np.int64)
        out = np.empty(len(at), object)
        for k, name in enumerate(self.names):
            mine = np.flatnonzero(self.source[at] == k)
            for idx, keys in pool[name].keys(self.row[at[mine]]):
                out[mine[idx]] = self.base_keys(at[mine[idx]], keys.to_pylist())
        return [self.renamed.get(i) or key for i, key in zip(at.tolist(), out.tolist(), strict=True)]


def _clashes(plan: MixPlan, pool: dict[str, Source]) -> dict[int, str]:
    """The output clips whose key an earlier clip has (of another input corpus, or a repeat's
    -rN an input already uses), with the key each gets instead."""
    hashes = np.empty(len(plan.source), np.uint64)
    for k, name in enumerate(plan.names):
        at = np.flatnonzero(plan.source == k)
        hashes[at] = pool[name].hashes[plan.row[at]]
        changed = at[(plan.earlier[at] > 0) | pool[name].long[plan.row[at]]]
        for idx, keys in pool[name].keys(plan.row[changed]):  # their keys hashed as they will be
            base = plan.base_keys(changed[idx], keys.to_pylist())
            hashes[changed[idx]] = key_hashes(pa.array(base, pa.large_string()))
    return unique_keys(hashes, lambda at: plan.keys_of(pool, at))


def _digest(plan: MixPlan, pool: dict[str, Source]) -> str:
    """What identifies the plan: per output clip its source, row, source key (by hash), repeat
    and unit; and the renamed keys."""
    h = hashlib.sha256(json.dumps([plan.names, plan.units[-1:], sorted(plan.renamed.items())]).encode())
    for start in range(0, len(plan.source), DIGEST_CHUNK):
        span = slice(start, start + DIGEST_CHUNK)
        source, row = plan.source[span], plan.row[span]
        keys = np.empty(len(row), np.uint64)
        for k, name in enumerate(plan.names):
            keys[source == k] = pool[name].hashes[row[source == k]]
        for part in (source.astype(np.int16), row.astype(np.int64), keys, plan.earlier[span].astype(np.int64)):
            h.update(part.tobytes())
    h.update(plan.unit_start.astype(np.int64).tobytes())
    return h.hexdigest()[:16]


def plan_mix(recipe: Recipe, pool: dict[str, Source], scale: float, seed: int, shard_bytes: int) -> MixPlan:
    rng = np.random.default_rng(seed)
    kept_out(recipe, pool)
    chosen, report = select(recipe, pool, scale, rng)
    source, row = interleave(chosen, pool, rng)
    names = list(pool)
    sizes = np.empty(len(source), np.int64)
    for k, name in enumerate(names):
        at = source == k
        sizes[at] = pool[name].sizes[row[at]]
    starts = unit_starts(sizes, shard_bytes)
    plan = MixPlan(names, source, row, sizes, uses_so_far(source, row, [len(pool[n]) for n in names]), {}, starts,
                   [f"m{k:06d}" for k in range(len(starts))], report)
    plan.renamed = _clashes(plan, pool)
    plan.digest = _digest(plan, pool)
    return plan
