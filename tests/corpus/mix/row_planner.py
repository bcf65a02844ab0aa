"""The mix planner as it was before plans were made over columns (issue 34): every candidate clip
a Python dict. Kept as the reference that corpus/mix/plan.py must equal: the same clips, keys,
units, accounting and digest for the same inputs, recipe, scale and seed. It holds about 9 KB a
clip (9.3 GB at 1M), so tests run it at small sizes only."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpus.errors import InputError
from corpus.mix.plan import capped  # unchanged: numpy arrays already
from corpus.shard_writer import group_by_bytes
from manifests.layout import CorpusLayout
from manifests.recipe import THRESHOLD_KEYS, Recipe
from manifests.sample import fit_key, is_valid_key, media_ext
from manifests.tables import read_table

COPIED = ("video_id", "start_s", "end_s", "duration_s", "fps", "source_fps", "frames", "width", "height", "bytes",
          "sha256", "signature", "signature_views", "signature_masked", "split", "caption", "captions", "meta",
          "motion", "shot_start_s", "shot_end_s", "sharpness", "frozen", "bars", "overlay")


@dataclass
class MixPlan:
    clips: list[dict]  # output clip rows in output order, each with 'unit', 'shard' and where its bytes lie
    units: list[str]
    accounting: list[dict]  # one videos/ row per candidate clip
    report: dict  # per source: quota, available, dropped by dedup, selected, shortfall
    digest: str


@dataclass
class Candidates:
    """The clips of one input corpus as rows, with dedup's verdict on each."""

    corpus: str
    rows: list[dict]
    keep: np.ndarray  # bool: dedup kept it (or dedup never ran)
    reason: list[str | None]  # dedup's reason for dropping it
    cluster: np.ndarray  # int: the clip's semantic cluster (dedup --embeddings); -1 where it has none


def candidates(name: str, root: Path, allow_unfinished: bool = False) -> Candidates:
    layout = CorpusLayout.at(root)
    if not layout.is_corpus():
        raise InputError(f"--input {name}={root}: not a vmae corpus folder (no build.json)")
    rows = read_table(root, "clips", required=False).to_pylist()
    dedup = read_table(root, "dedup", required=False).to_pylist()
    # a cluster is null where dedup ran without --embeddings (and in dedup tables older than clusters)
    verdict = {d["clip_key"]: (d["keep"], d["reason"], -1 if d.get("cluster") is None else d["cluster"])
               for d in dedup}
    judged = sum(r["clip_key"] in verdict for r in rows)
    if 0 < judged < len(rows) and not allow_unfinished:  # dedup ran before the rest of the clips were built
        raise InputError(f"--input {name}={root}: dedup judged {judged} of its {len(rows)} clips (it ran before the "
                         "build finished); the others would all count as kept. Rerun 'vmae corpus dedup' on it, or "
                         "pass --allow-unfinished")
    found = [verdict.get(r["clip_key"], (True, None, -1)) for r in rows]
    return Candidates(str(root), rows, np.array([f[0] for f in found], bool), [f[1] for f in found],
                      np.array([f[2] for f in found], np.int64))


Verdicts = dict[str, list[tuple[str, str] | None]]  # per source, per clip: None, or (reason, detail)


def kept_out(recipe: Recipe, pool: dict[str, Candidates]) -> Verdicts:
    """Per source: which clips the recipe's quality thresholds keep out, and why (the first
    threshold a clip fails). A corpus that lacks a signal the recipe asks for is refused."""
    out: Verdicts = {}
    for name, clips in pool.items():
        limits = [(THRESHOLD_KEYS[k], v) for k, v in recipe.thresholds_of(name).items()]
        for signal, _ in limits:
            missing = sum(r.get(signal.column) is None for r in clips.rows)
            if missing:
                raise InputError(f"recipe '{recipe.name}' sets {signal.key} for '{name}', but {clips.corpus} has "
                                 f"{missing} clips without a {signal.column} score (built before vmae measured it): "
                                 f"rebuild that corpus, or drop {signal.key} for it")
        out[name] = [next(((s.reason, s.detail(r[s.column], v)) for s, v in limits if s.fails(r[s.column], v)), None)
                     for r in clips.rows]
    return out


def select(recipe: Recipe, pool: dict[str, Candidates], out: Verdicts, scale: float, rng) -> tuple[list, dict]:
    """Per source: indices of chosen clips (repeats allowed only when the recipe says so). Clips
    the recipe's max_per_cluster leaves out are added to `out` as cluster_cap."""
    chosen, report = [], {}
    for name, quota in recipe.scaled(scale).items():
        clips = pool[name]
        low = np.array([v is not None for v in out[name]], bool)
        usable = np.flatnonzero(clips.keep & ~low)
        if recipe.max_per_cluster is not None:  # which clips of a large cluster stay is chosen at random
            usable, left_out = capped(rng.permutation(usable), clips.cluster, recipe.max_per_cluster)
            for i in left_out:
                out[name][i] = ("cluster_cap", f"semantic cluster {clips.cluster[i]} already gives this source "
                                               f"{recipe.max_per_cluster} clips (max_per_cluster)")
        if len(usable) >= quota:
            pick = rng.choice(usable, quota, replace=False)
        elif recipe.repeat and len(usable):
            pick = np.r_[usable, rng.choice(usable, quota - len(usable), replace=True)]
        else:
            pick = usable
        rng.shuffle(pick)
        chosen.append((name, pick))
        report[name] = {"quota": quota, "available": len(clips.rows), "dropped_by_dedup": int((~clips.keep).sum()),
                        "kept_out": dict(Counter(v[0] for v, k in zip(out[name], clips.keep, strict=True)
                                                 if v is not None and k)),
                        "selected": int(len(pick)), "shortfall": int(max(0, quota - len(pick)))}
    return chosen, report


def interleave(chosen: list, rng) -> list[tuple[str, int]]:
    """Each clip at (its rank in its source + jitter) / source size: sources spread evenly."""
    entries, position = [], []
    for name, pick in chosen:
        entries += [(name, int(i)) for i in pick]
        position.append((np.arange(len(pick)) + rng.random(len(pick))) / max(len(pick), 1))
    order = np.argsort(np.concatenate(position) if position else np.empty(0), kind="stable")
    return [entries[i] for i in order]


def _source_tars(name: str, clips: Candidates, used: np.ndarray) -> dict[str, str]:
    """The tar of each shard the used clips lie in, after refusing keys with a dot or a path
    separator and shards outside the corpus folder: names that come from an input never decide
    where anything is read or written."""
    rows = [clips.rows[i] for i in used]
    bad = [r["clip_key"] for r in rows if not is_valid_key(r["clip_key"])]
    if bad:
        raise InputError(f"--input {name}={clips.corpus}: clip key {bad[0]!r} has a dot or a path separator; "
                         "keys must be names without them. Rebuild that corpus, or drop the clip")
    root, tars = Path(clips.corpus).resolve(), {}
    for shard in {r["shard"] for r in rows}:
        tar = (root / shard).resolve()
        if not tar.is_relative_to(root):
            raise InputError(f"--input {name}={clips.corpus}: shard {shard!r} lies outside the corpus folder; "
                             "refusing to read it")
        tars[shard] = str(tar)
    return tars


def output_clips(order: list[tuple[str, int]], pool: dict[str, Candidates], labeled: bool,
                 shard_bytes: int) -> tuple[list[dict], list[str], dict]:
    """The mix's clip rows in output order, each in its unit; returns (clips, units, uses)."""
    tars = {name: _source_tars(name, clips, np.unique([i for n, i in order if n == name]).astype(int))
            for name, clips in pool.items()}
    clips, seen, uses = [], set(), {}
    for name, i in order:
        src = pool[name].rows[i]
        uses[(name, i)] = uses.get((name, i), 0) + 1
        key = fit_key(src["clip_key"], "" if uses[(name, i)] == 1 else f"-r{uses[(name, i)] - 1}")
        while key in seen:  # the same key in two input corpora
            key = fit_key(key, "-c")
        seen.add(key)
        row = {k: src[k] for k in COPIED}
        row.update(clip_key=key, source=name, row=len(clips), origin_corpus=pool[name].corpus,
                   origin_key=src["clip_key"], label=src["label"] if labeled else None,
                   label_id=src["label_id"] if labeled else None, src_tar=tars[name][src["shard"]],
                   media=src.get("media") or "video", src_member=f"{src['clip_key']}.{media_ext(src.get('media'))}")
        clips.append(row)
    units = []
    for k, group in enumerate(group_by_bytes(clips, shard_bytes)):
        units.append(f"m{k:06d}")
        for c in group:
            c["unit"], c["shard"] = units[-1], f"tars/{units[-1]}-0000.tar"
    return clips, units, uses


def accounting(pool: dict[str, Candidates], uses: dict, recipe: Recipe, out: Verdicts, first_unit: dict
               ) -> list[dict]:
    """One videos/ row per candidate clip: pending until its unit is written, or why it was not used."""
    rows = []
    for name, clips in pool.items():
        for i, c in enumerate(clips.rows):
            used = uses.get((name, i), 0)
            row = {"row": len(rows), "video_id": c["clip_key"], "source": name, "path": clips.corpus,
                   "start_s": c["start_s"], "end_s": c["end_s"], "label": c["label"], "split": c["split"],
                   "caption": c["caption"], "status": "pending" if used else "skipped", "clips": used,
                   "unit": first_unit.get((name, i), "plan"),
                   "meta": json.dumps({"origin_source": c["source"], "origin_video_id": c["video_id"]})}
            if not used and not clips.keep[i]:
                row.update(error_kind="duplicate", error=f"dropped by dedup ({clips.reason[i]})")
            elif not used and out[name][i] is not None:
                reason, detail = out[name][i]
                row.update(error_kind=reason, error=f"kept out by the recipe: {detail}")
            elif not used:
                row.update(error_kind="over_quota", error=f"not sampled: source '{name}' is over its quota of "
                                                          f"{recipe.quotas[name]} (before --scale)")
            rows.append(row)
    return rows


def plan_mix(recipe: Recipe, pool: dict[str, Candidates], scale: float, seed: int, labeled: bool,
             shard_bytes: int) -> MixPlan:
    rng = np.random.default_rng(seed)
    out = kept_out(recipe, pool)
    chosen, report = select(recipe, pool, out, scale, rng)
    order = interleave(chosen, rng)
    clips, units, uses = output_clips(order, pool, labeled, shard_bytes)
    first_unit: dict = {}
    for (name, i), c in zip(order, clips, strict=True):
        first_unit.setdefault((name, i), c["unit"])
    digest = hashlib.sha256("\n".join(f"{c['clip_key']} {c['source']} {c['origin_key']} {c['unit']}"
                                      for c in clips).encode()).hexdigest()[:16]
    return MixPlan(clips, units, accounting(pool, uses, recipe, out, first_unit), report, digest)
