"""`vmae corpus mix`: sample source corpora to a recipe's quotas into one new corpus.

Every candidate clip of every input corpus is a row of the mix's videos/ (selected, dropped by
dedup, or over quota), so nothing is unaccounted for. Selected clips are interleaved in
proportion to their sources' quotas, so every shard holds a mix, and their tar members are
copied as they are (no re-encoding). The corpus is written under a temporary name and renamed
into place at the end: a failed mix leaves nothing half-written.
"""

from __future__ import annotations

import json
import shutil
import tarfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from corpus.errors import InputError
from corpus.status import summarize
from corpus.steps.shard import write_shards
from manifests.layout import CorpusLayout
from manifests.recipe import Recipe, RecipeError, load_recipe
from manifests.sample import VIDEO_EXT
from manifests.schemas import SCHEMA_VERSION
from manifests.tables import read_frame, write_atomic_bytes, write_part


@dataclass(frozen=True)
class MixOptions:
    recipe: str
    inputs: dict[str, str]  # recipe source name → corpus folder
    out: str
    scale: float = 1.0
    seed: int = 0
    shard_bytes: int = 1024**3


def _candidates(name: str, root: Path) -> pd.DataFrame:
    """The clips of one input corpus, with dedup's verdict."""
    layout = CorpusLayout.at(root)
    if not layout.is_corpus():
        raise InputError(f"--input {name}={root}: not a vmae corpus folder (no build.json)")
    clips = read_frame(root, "clips", required=False)
    dedup = read_frame(root, "dedup", required=False)
    verdict = dedup.set_index("clip_key")[["keep", "reason"]] if len(dedup) else None
    clips["dedup_keep"] = True if verdict is None else clips["clip_key"].map(verdict["keep"]).fillna(True)
    clips["dedup_reason"] = None if verdict is None else clips["clip_key"].map(verdict["reason"])
    clips["mix_source"], clips["corpus"] = name, str(root)
    return clips


def _check(recipe: Recipe, opts: MixOptions, out: Path) -> None:
    missing = sorted(set(recipe.quotas) - set(opts.inputs))
    if missing:
        raise InputError(f"recipe '{recipe.name}' needs source(s) {missing}; give each with --input NAME=DIR")
    extra = sorted(set(opts.inputs) - set(recipe.quotas))
    if extra:
        raise InputError(f"--input {extra} not in recipe '{recipe.name}' (its sources: {sorted(recipe.quotas)})")
    if not opts.scale > 0:
        raise InputError(f"--scale must be positive, got {opts.scale}")
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out} is not empty; mix writes a new corpus: choose another --out or remove it")


def _labels(recipe: Recipe, inputs: dict[str, str]) -> list[str] | None:
    if not recipe.keep_labels:
        return None
    lists = {n: CorpusLayout.at(d).labels_txt for n, d in inputs.items()}
    texts = {n: p.read_text() if p.is_file() else None for n, p in lists.items()}
    if any(t is None for t in texts.values()) or len(set(texts.values())) != 1:
        raise InputError(f"recipe '{recipe.name}' keeps labels, so every input must be labeled with the same "
                         f"labels.txt; these differ or are missing: {sorted(texts)}")
    return next(iter(texts.values())).splitlines()


def _select(recipe: Recipe, pool: dict[str, pd.DataFrame], opts: MixOptions, rng) -> tuple[list, dict]:
    """Per source: indices of chosen clips (repeats allowed only when the recipe says so)."""
    chosen, report = [], {}
    for name, quota in recipe.scaled(opts.scale).items():
        clips = pool[name]
        usable = np.flatnonzero(clips["dedup_keep"].to_numpy(bool))
        if len(usable) >= quota:
            pick = rng.choice(usable, quota, replace=False)
        elif recipe.repeat and len(usable):
            pick = np.r_[usable, rng.choice(usable, quota - len(usable), replace=True)]
        else:
            pick = usable
        rng.shuffle(pick)
        chosen.append((name, pick))
        report[name] = {"quota": quota, "available": int(len(clips)), "dropped_by_dedup": int(len(clips) - len(usable)),
                        "selected": int(len(pick)), "shortfall": int(max(0, quota - len(pick)))}
    return chosen, report


def _interleave(chosen: list, rng) -> list[tuple[str, int]]:
    """Each clip at (its rank in its source + jitter) / source size: sources spread evenly."""
    entries, position = [], []
    for name, pick in chosen:
        entries += [(name, int(i)) for i in pick]
        position.append((np.arange(len(pick)) + rng.random(len(pick))) / max(len(pick), 1))
    order = np.argsort(np.concatenate(position) if position else np.empty(0), kind="stable")
    return [entries[i] for i in order]


class _TarReader:
    """Random access to members of source tars (an index per tar, built once)."""

    def __init__(self):
        self.index: dict[Path, dict[str, tuple[int, int]]] = {}

    def read(self, tar: Path, name: str) -> bytes:
        if tar not in self.index:
            with tarfile.open(tar) as t:
                self.index[tar] = {m.name: (m.offset_data, m.size) for m in t.getmembers()}
        offset, size = self.index[tar][name]
        with open(tar, "rb") as f:
            f.seek(offset)
            return f.read(size)


def mix(opts: MixOptions, progress: bool = True) -> dict:
    out = Path(opts.out)
    try:
        recipe = load_recipe(opts.recipe)
    except RecipeError as e:
        raise InputError(str(e)) from e
    _check(recipe, opts, out)
    labels = _labels(recipe, opts.inputs)
    pool = {n: _candidates(n, Path(d)) for n, d in opts.inputs.items()}
    rng = np.random.default_rng(opts.seed)
    chosen, report = _select(recipe, pool, opts, rng)
    order = _interleave(chosen, rng)
    tmp = out.parent / f".{out.name}.mix-{uuid.uuid4().hex[:8]}"
    try:
        _write(tmp, recipe, opts, pool, order, labels, report, progress)
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summarize(out) | {"mix": report}


def _write(root: Path, recipe, opts, pool, order, labels, report, progress) -> None:
    layout = CorpusLayout.at(root)
    reader, staged, times = _TarReader(), root / ".work", {}
    staged.mkdir(parents=True)
    clips, seen = [], set()
    for name, i in tqdm(order, desc="mix", unit="clip", disable=not progress):
        src = pool[name].iloc[i]
        times[(name, i)] = times.get((name, i), 0) + 1
        key = src.clip_key if times[(name, i)] == 1 else f"{src.clip_key}-r{times[(name, i)] - 1}"
        while key in seen:  # the same key in two input corpora
            key = f"{key}-c"
        seen.add(key)
        tar = Path(src.corpus) / src.shard
        (staged / f"{key}.mp4").write_bytes(reader.read(tar, f"{src.clip_key}.{VIDEO_EXT}"))
        row = {k: src[k] for k in ("video_id", "start_s", "end_s", "duration_s", "fps", "frames", "width", "height",
                                   "bytes", "sha256", "signature", "split", "caption", "meta")}
        row.update(clip_key=key, source=name, row=len(clips), unit="mix", origin_corpus=src.corpus,
                   origin_key=src.clip_key, file=str(staged / f"{key}.mp4"),
                   label=src.label if labels else None, label_id=int(src.label_id) if labels and pd.notna(
                       src.label_id) else None)
        row["signature"] = [int(x) for x in row["signature"]]
        clips.append(row)
    shard_rows = write_shards(root, "mix", clips, opts.shard_bytes, labeled=bool(labels), sort=False)
    write_part(layout.part("clips", "mix"), "clips", [{k: v for k, v in c.items() if k != "file"} for c in clips])
    write_part(layout.part("shards", "mix"), "shards", shard_rows)
    write_part(layout.part("videos", "mix"), "videos", _accounting(pool, times, recipe))
    if labels:
        write_atomic_bytes(layout.labels_txt, ("\n".join(labels) + "\n").encode())
    shutil.rmtree(staged)
    doc = {"tool": "vmae", "schema_version": SCHEMA_VERSION, "source": "mix", "recipe": recipe.name,
           "inputs": opts.inputs, "scale": opts.scale, "seed": opts.seed, "labeled": bool(labels),
           "rows": sum(len(p) for p in pool.values()), "state": "complete", "finished_at": time.time(),
           "mix": report}
    write_atomic_bytes(layout.build_json, json.dumps(doc, indent=2, default=str).encode())


def _accounting(pool: dict[str, pd.DataFrame], times: dict, recipe: Recipe) -> list[dict]:
    """One videos/ row per candidate clip: what became of it."""
    rows = []
    for name, clips in pool.items():
        for i, c in enumerate(clips.itertuples()):
            used = times.get((name, i), 0)
            row = {"row": len(rows), "video_id": c.clip_key, "source": name, "path": c.corpus,
                   "start_s": c.start_s, "end_s": c.end_s, "label": c.label, "split": c.split,
                   "caption": c.caption, "status": "ok" if used else "skipped", "clips": used, "unit": "mix",
                   "meta": json.dumps({"origin_source": c.source, "origin_video_id": c.video_id})}
            if not used:
                why = "duplicate" if not c.dedup_keep else "over_quota"
                detail = f"dropped by dedup ({c.dedup_reason})" if not c.dedup_keep else \
                    f"not sampled: source '{name}' is over its quota of {recipe.quotas[name]} (before --scale)"
                row.update(error_kind=why, error=detail)
            rows.append(row)
    return rows
