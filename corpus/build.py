"""`vmae corpus build`: plan, then run the units that are not done, then summarize.
Rerunning the same command resumes; --retry-failed re-queues transient failures."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import shutil
import time

from corpus.compact import compact, split_units
from corpus.dedup.apply import skip_deduplicated
from corpus.errors import InputError, MachineFault, machine_fault
from corpus.executors import get_executor
from corpus.executors.base import UnitWork
from corpus.fingerprint import changed, fingerprints, work_values
from corpus.finish import UnitFinisher
from corpus.lock import writing
from corpus.media.signature import SIGNATURE_VERSION
from corpus.options import BuildOptions
from corpus.pipeline import STEPS, Pipeline
from corpus.progress import BuildProgress
from corpus.sources import get_source
from corpus.sources.base import apply_labels
from corpus.stats import add_stats
from corpus.status import summarize
from corpus.units import (
    assign_units,
    pending_units,
    requeue_rows,
    requeue_transient,
    unit_tasks,
    write_plan,
)
from corpus.watch import SetupFault, TaskWatch
from manifests.atomic import remove_leftovers
from manifests.layout import CorpusLayout
from manifests.schemas import SCHEMA_VERSION
from manifests.tables import write_atomic_bytes

PLAN_MARKER = "plan.json"


def _tool_version() -> str:
    try:
        return importlib.metadata.version("vmae")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _write_build_json(layout: CorpusLayout, options: BuildOptions, **fields) -> None:
    old = layout.build_doc()
    doc = {**old, "tool": "vmae", "tool_version": _tool_version(), "schema_version": SCHEMA_VERSION,
           "source": options.source, "options": dataclasses.asdict(options), "signature_version": SIGNATURE_VERSION,
           "fingerprint": fingerprints(options),
           "output_settings": json.loads(json.dumps(work_values(options), default=str)), **fields}
    write_atomic_bytes(layout.build_json, json.dumps(doc, indent=2, sort_keys=True, default=str).encode())


def plan(options: BuildOptions, layout: CorpusLayout) -> dict:
    """Read the inputs into numbered plan rows, assign units and write every videos/ part."""
    source = get_source(options.source)(options)
    result = source.plan()
    rows = result.rows
    if not rows:
        raise InputError(f"the inputs hold no rows to build: {', '.join(options.inputs)}")
    for i, r in enumerate(rows):
        r["row"] = i
    labels, unknown = apply_labels(rows, result.labels, options.plan.label_map)
    if unknown:
        result.report["unknown_labels"] = unknown
    if labels:
        write_atomic_bytes(layout.labels_txt, ("\n".join(labels) + "\n").encode())
    for rel, data in source.extra_files(rows, labels).items():
        write_atomic_bytes(layout.root / rel, data)
    units = assign_units(rows, options.plan.unit_size)
    write_plan(layout, rows)
    info = {"rows": len(rows), "units": len(units), "labeled": bool(labels),
            "classes": len(labels or []), "report": result.report}
    _write_build_json(layout, options, state="planned", planned_at=time.time(), **info)
    write_atomic_bytes(layout.marker(PLAN_MARKER), json.dumps(info, default=str).encode())
    return info


def _stopped(fault: MachineFault, layout: CorpusLayout, bar: BuildProgress | None) -> MachineFault:
    """The fault, told as what to do: which folder, the space there, what the rest needs. The
    scratch of the units in flight is released first: they run again from the start."""
    shutil.rmtree(layout.work, ignore_errors=True)
    where = fault.where or str(layout.root)
    try:
        free = f"{shutil.disk_usage(layout.root).free / 1e6:,.0f} MB free on the file system of {layout.root}"
    except OSError:
        free = f"{layout.root} cannot be read"
    need = bar.remaining_bytes() if bar is not None else None
    need_text = f"; the rows still to do need about {need / 1e6:,.0f} MB more for their clips (as the finished " \
        "ones took), plus room for one download per worker" if need is not None else ""
    return MachineFault(f"the build stopped: {fault.what} ({where}). {free}{need_text}. Fix that (free space, "
                        "remount, raise the open-file limit) and rerun the same command: it resumes from the "
                        "finished units; no row was failed for this")


def _holds_clips(layout: CorpusLayout) -> bool:
    """Whether a finished unit made clips: units that made none (a build stopped by a set-up fault
    after its first units failed) leave nothing that other options would contradict."""
    for marker in layout.done.glob("*.json"):
        if marker.name != PLAN_MARKER and json.loads(marker.read_text()).get("clips", 1):
            return True
    return False


def _check_same_build(layout: CorpusLayout, options: BuildOptions) -> None:
    """A rerun resumes only what the same inputs and options would have made."""
    doc = layout.build_doc()
    recorded = doc.get("fingerprint", {})
    now = fingerprints(options)
    if recorded.get("plan") != now["plan"]:
        raise InputError(f"{layout.root} was planned from other inputs or source options. Rerun with the same "
                         "--source, --input files and source options to resume, or build into a new --out folder.")
    if recorded.get("work") != now["work"] and _holds_clips(layout):
        before = doc.get("output_settings")
        which = ", ".join(changed(before, json.loads(json.dumps(work_values(options), default=str)))) \
            if isinstance(before, dict) else "settings an older vmae recorded differently"
        raise InputError(f"{layout.root} already holds clips made with other settings ({which}); rerun with the "
                         "options it was built with (its build.json has them), or build into a new --out folder.")


def build(options: BuildOptions, *, plan_only: bool = False, retry_failed: bool = False,
          progress: bool = True) -> dict:
    layout = CorpusLayout.at(options.out)
    if not layout.marker(PLAN_MARKER).is_file() and layout.root.is_dir() and not layout.build_json.is_file() \
            and any(p.name not in ("done", ".lock") for p in layout.root.iterdir()):
        raise InputError(f"{layout.root} exists and is not a vmae corpus; choose an empty --out folder")
    try:
        with writing(layout.root):
            if layout.marker(PLAN_MARKER).is_file():
                _check_same_build(layout, options)
            else:
                plan(options, layout)
            if not plan_only:
                _run(options, layout, retry_failed, progress)
    except OSError as e:  # outside the units: the lock, the plan, the merge
        fault = machine_fault(e, layout.root)
        if fault is None:
            raise
        raise _stopped(fault, layout, None) from e
    return summarize(layout.root)


def _run(options: BuildOptions, layout: CorpusLayout, retry_failed: bool, progress: bool) -> None:
    """Run the units that are not done, then merge the tables into a few large files."""
    if retry_failed:
        requeue_transient(layout, options.plan.unit_size)
    skip_deduplicated(layout)
    shutil.rmtree(layout.work, ignore_errors=True)  # scratch of units a killed run left unfinished
    remove_leftovers(layout.tars)  # and the tars it was writing
    labeled = bool(layout.build_doc().get("labeled"))
    pending = pending_units(layout)
    split_units(layout, set(pending))  # each unit replaces its own rows when it finishes
    fetcher = get_source(options.source).fetcher
    works = [UnitWork(u, *unit_tasks(layout, u, fetcher)) for u in pending]
    bar = BuildProgress(sum(len(t.rows) for w in works for t in w.tasks), enabled=progress)
    _write_build_json(layout, options, state="building")
    executor = get_executor(options)
    run_steps: dict[str, dict] = {}
    watch = TaskWatch(options.download.setup_fault_rows, options.download.backoff_s)

    def on_task(task) -> None:
        bar.task_done(task)
        watch(task)

    try:
        pipeline = Pipeline(options, STEPS[get_source(options.source).media])
        executor.run(works, pipeline, UnitFinisher(str(layout.root), options.shard.shard_bytes, labeled),
                     on_task, lambda work, marker: add_stats(run_steps, marker["steps"]))
    except SetupFault as fault:  # rows of the streak that finished units failed go back to pending
        bar.close()
        shutil.rmtree(layout.work, ignore_errors=True)
        requeue_rows(layout, watch.stopped_rows, options.plan.unit_size)
        _write_build_json(layout, options, state="stopped", stopped=str(fault), tool_warnings=dict(watch.warnings))
        raise
    except MachineFault as fault:
        bar.close()
        raise _stopped(fault, layout, bar) from fault
    run_stats = bar.close() | {"steps": run_steps}
    compact(layout)
    summary = summarize(layout.root)
    _write_build_json(layout, options, state="complete", finished_at=time.time(), last_run=run_stats,
                      tool_warnings=dict(watch.warnings), stopped=None,
                      counts={k: summary[k] for k in ("rows", "status", "error_kinds", "clips", "shards",
                                                       "hours", "shard_bytes", "steps")})
