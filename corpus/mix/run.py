"""The mix from start to end: plan (or check the plan of a mix being resumed), write the units
not done yet in parallel, then mark the selected candidates ok and merge the tables. With
--plan-only: the plan alone, written and reported, with no byte copied."""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from corpus.compact import ROW_GROUP, compact, write_table_batches
from corpus.dedup.units import signature_version
from corpus.errors import InputError
from corpus.executors import get_executor
from corpus.lock import check_finished, reading, writing
from corpus.mix.copy import MixUnit, UnitCopier
from corpus.mix.gather import accounting, source_tars, unit_file, write_units
from corpus.mix.plan import MixPlan, Source, plan_mix, source
from corpus.options import ALLOW_UNFINISHED, ExecutorOptions, Sectioned, ShardOptions
from corpus.status import summarize
from manifests.atomic import remove_leftovers
from manifests.layout import CorpusLayout
from manifests.options import option
from manifests.recipe import Recipe, RecipeError, load_recipe
from manifests.schemas import SCHEMA_VERSION, TABLES
from manifests.tables import read_batches, write_atomic_bytes

PLAN_MARKER = "plan.json"
# What --plan-only writes: the plan's figures, and one row per planned shard
PLAN_ONLY_FILES = ("mix-plan.json", "mix-plan-shards.parquet")
# The plan holds about 40 bytes of arrays per output clip and 30 per candidate, no key strings
# (bench/scale.py: planning 25M clips peaks at 3.1 GB): 300M clips fit a 64 GB machine.
MAX_MIX_CLIPS = 300_000_000


@dataclass(frozen=True)
class MixOptions(Sectioned):
    recipe: str
    inputs: dict[str, str]  # recipe source name → corpus folder
    out: str
    scale: float = option(1.0, "Multiply every quota, e.g. 0.001 for a small trial mix.", output=True)
    seed: int = option(0, "Seed of the sampling and interleaving.", output=True)
    allow_unfinished: bool = option(False, ALLOW_UNFINISHED, output=False)
    plan_only: bool = option(False, "Plan the mix and write the plan (mix-plan.json: quotas, what each source has, "
                                    "drops, shortfalls; mix-plan-shards.parquet: the shards) without copying a clip.",
                             output=False)
    shard: ShardOptions = field(default_factory=ShardOptions)
    executor: ExecutorOptions = field(default_factory=ExecutorOptions)
    components: dict[str, Any] = field(default_factory=dict)  # the executor's own options


def _check(recipe: Recipe, opts: MixOptions) -> None:
    missing = sorted(set(recipe.quotas) - set(opts.inputs))
    if missing:
        raise InputError(f"recipe '{recipe.name}' needs source(s) {missing}; give each with --input NAME=DIR")
    extra = sorted(set(opts.inputs) - set(recipe.quotas))
    if extra:
        raise InputError(f"--input {extra} not in recipe '{recipe.name}' (its sources: {sorted(recipe.quotas)})")
    if not (opts.scale > 0 and math.isfinite(opts.scale)):
        raise InputError(f"--scale must be a positive number, got {opts.scale}")
    wanted = sum(q * opts.scale for q in recipe.quotas.values())  # in floats: a huge --scale must not overflow
    if wanted > MAX_MIX_CLIPS:
        raise InputError(f"recipe '{recipe.name}' at --scale {opts.scale:g} asks for {wanted:,.0f} clips; one mix "
                         f"takes at most {MAX_MIX_CLIPS:,} (its plan's arrays must fit in memory). Lower "
                         "--scale or the quotas, or mix in several parts")


def _labels(recipe: Recipe, inputs: dict[str, str]) -> list[str] | None:
    if not recipe.keep_labels:
        return None
    lists = {n: CorpusLayout.at(d).labels_txt for n, d in inputs.items()}
    texts = {n: p.read_text() if p.is_file() else None for n, p in lists.items()}
    if any(t is None for t in texts.values()) or len(set(texts.values())) != 1:
        raise InputError(f"recipe '{recipe.name}' keeps labels, so every input must be labeled with the same "
                         f"labels.txt; these differ or are missing: {sorted(texts)}")
    return next(iter(texts.values())).splitlines()


def _shared_signature_version(inputs) -> int | None:
    """The signature version of the mixed clips: that of the inputs, or None where they differ
    (dedup then refuses the mix, as it would refuse its inputs side by side)."""
    versions = {signature_version(CorpusLayout.at(d)) for d in inputs}
    return versions.pop() if len(versions) == 1 else None


def _start(layout: CorpusLayout, plan: MixPlan, pool: dict[str, Source], recipe: Recipe, opts: MixOptions,
           labels: list[str] | None) -> None:
    """A new mix's folder: build.json first (so that a mix killed while it starts is known as
    one, and starts again), labels, every candidate's videos/ row, then the plan marker."""
    doc = {"tool": "vmae", "schema_version": SCHEMA_VERSION, "source": "mix", "recipe": recipe.name,
           "inputs": opts.inputs, "scale": opts.scale, "seed": opts.seed, "labeled": bool(labels),
           "rows": sum(len(c) for c in pool.values()), "state": "mixing", "plan_digest": plan.digest,
           "mix": plan.report,
           "signature_version": _shared_signature_version(opts.inputs.values())}
    write_atomic_bytes(layout.build_json, json.dumps(doc, indent=2, default=str).encode())
    if labels:
        write_atomic_bytes(layout.labels_txt, ("\n".join(labels) + "\n").encode())
    write_table_batches(layout, "videos", accounting(plan, pool, recipe))
    write_atomic_bytes(layout.marker(PLAN_MARKER), json.dumps({"units": len(plan.units)}).encode())


def _resume_check(layout: CorpusLayout, plan: MixPlan) -> None:
    recorded = layout.build_doc().get("plan_digest")
    if recorded != plan.digest:
        raise InputError(f"{layout.root} holds another mix (or its inputs, recipe, scale or seed changed since it "
                         "began); mix into a new --out, or rerun with what it was started with")


def _finish(layout: CorpusLayout) -> None:
    """Every unit written: the selected candidates become ok, the tables are merged, done."""
    def done(batch: pa.RecordBatch) -> pa.Table:
        status = pc.if_else(pc.equal(batch.column("status"), "pending"), "ok", batch.column("status"))
        return pa.Table.from_batches([batch]).set_column(batch.schema.get_field_index("status"), "status", status)

    batches = read_batches(layout.root, "videos", TABLES["videos"].names, ROW_GROUP)
    write_table_batches(layout, "videos", (done(b) for b in batches))
    compact(layout)
    shutil.rmtree(layout.work, ignore_errors=True)
    doc = layout.build_doc() | {"state": "complete", "finished_at": time.time()}
    write_atomic_bytes(layout.build_json, json.dumps(doc, indent=2, default=str).encode())


def _write_plan(out: Path, plan: MixPlan, recipe: Recipe, opts: MixOptions) -> dict:
    """--plan-only: the plan's figures and its shards, beside nothing else (no corpus yet)."""
    out.mkdir(parents=True, exist_ok=True)
    doc = {"recipe": recipe.name, "inputs": opts.inputs, "scale": opts.scale, "seed": opts.seed,
           "plan_digest": plan.digest, "planned_clips": len(plan.source), "planned_bytes": int(plan.sizes.sum()),
           "shards": len(plan.units), "mix": plan.report}
    shards = pa.table({"shard": plan.shards(), "unit": plan.units, "clips": plan.unit_clips(),
                       "bytes": np.add.reduceat(plan.sizes, plan.unit_start) if len(plan.units) else np.empty(0, int),
                       "first_row": plan.unit_start})
    pq.write_table(shards, out / PLAN_ONLY_FILES[1])
    write_atomic_bytes(out / PLAN_ONLY_FILES[0], json.dumps(doc, indent=2).encode())
    return doc


def mix(opts: MixOptions, progress: bool = True) -> dict:
    out = Path(opts.out)
    try:
        recipe = load_recipe(opts.recipe)
    except RecipeError as e:
        raise InputError(str(e)) from e
    _check(recipe, opts)
    layout = CorpusLayout.at(out)
    resuming = layout.marker(PLAN_MARKER).is_file() and layout.build_doc().get("source") == "mix"
    # a mix killed while it started (build.json written, no plan marker): no unit ran; it starts over
    restarting = not resuming and layout.build_doc().get("source") == "mix"
    ours = {".lock", *PLAN_ONLY_FILES}  # a plan written by --plan-only stays beside the mix it planned
    if not resuming and not restarting and out.exists() and any(p.name not in ours for p in out.iterdir()):
        raise InputError(f"{out} is not empty and holds no unfinished mix; mix writes a new corpus: choose another "
                         "--out or remove it")
    for folder in opts.inputs.values():
        if CorpusLayout.at(folder).is_corpus():
            check_finished(folder, ("complete",), opts.allow_unfinished)
    with writing(out), reading(opts.inputs.values()):
        labels = _labels(recipe, opts.inputs)
        pool = {n: source(n, Path(d), recipe, opts.allow_unfinished) for n, d in opts.inputs.items()}
        plan = plan_mix(recipe, pool, opts.scale, opts.seed, opts.shard.shard_bytes)
        tars = source_tars(plan, pool)
        if opts.plan_only:
            return _write_plan(out, plan, recipe, opts)
        if resuming:
            _resume_check(layout, plan)
            remove_leftovers(layout.tars)  # tars a killed run was writing
        else:
            _start(layout, plan, pool, recipe, opts, labels)
        done = {u for u in plan.units if layout.marker(f"{u}.json").is_file()}
        folder = layout.work / "mix"
        write_units(plan, pool, tars, folder, bool(labels), done)
        todo = [MixUnit(u, str(unit_file(folder, u)), int(n))
                for u, n in zip(plan.units, plan.unit_clips(), strict=True) if u not in done]
        bar = tqdm(total=len(plan.source), initial=len(plan.source) - sum(w.clips for w in todo), desc="mix",
                   unit="clip", disable=not progress)
        executor = get_executor(opts)
        executor.map(UnitCopier(str(out), bool(labels)), todo, lambda work, _: bar.update(work.clips))
        bar.close()
        if layout.build_doc().get("state") != "complete":
            _finish(layout)
    return summarize(out) | {"mix": plan.report}
