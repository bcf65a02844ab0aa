"""Finishing a unit once every task of it has run: its shards, its table parts, then its marker
(last), holding the unit's per-step stats. It reads and writes only the corpus folder, so it can
run wherever the tasks ran (the build's process, or a Ray worker on shared storage)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from corpus.errors import MachineFault, machine_fault
from corpus.executors.base import UnitWork
from corpus.shard_writer import write_shards
from corpus.stats import unit_stats
from corpus.steps.base import Task
from manifests.layout import CorpusLayout
from manifests.tables import write_atomic_bytes, write_part


@dataclass(frozen=True)
class UnitFinisher:
    """finish_unit for one corpus, as a picklable callable an executor can send to its workers."""

    root: str
    shard_bytes: int
    labeled: bool

    def __call__(self, work: UnitWork, tasks: list[Task]) -> dict:
        try:
            return finish_unit(CorpusLayout.at(Path(self.root)), self.shard_bytes, self.labeled, work, tasks)
        except OSError as e:  # every write is atomic: the unit has no marker and runs again on the rerun
            fault = machine_fault(e, Path(self.root))
            if fault is None:
                raise
            raise fault from e


def finish_unit(layout: CorpusLayout, shard_bytes: int, labeled: bool, work: UnitWork, tasks: list[Task]) -> dict:
    if not layout.build_json.is_file():  # writing on would make a skeleton corpus of this one unit
        raise MachineFault("the corpus folder vanished while the build wrote to it", str(layout.root))
    updated = {r["row"]: r for t in tasks for r in t.rows}
    rows = [updated.get(r["row"], r) for r in work.rows]
    if not tasks and not any(r["status"] == "pending" for r in rows):
        return _mark_done(layout, work.unit, rows)
    clips = [c for t in tasks for c in t.clips]
    for stale in layout.tars.glob(f"{work.unit}-*.tar"):  # left by a killed run of this unit
        stale.unlink()
    shard_rows = write_shards(layout.root, work.unit, clips, shard_bytes, labeled)
    write_part(layout.part("clips", work.unit), "clips", [{k: v for k, v in c.items() if k != "file"} for c in clips])
    write_part(layout.part("shards", work.unit), "shards", shard_rows)
    rejects = [r for t in tasks for r in t.rejects]
    if rejects or layout.part("rejects", work.unit).is_file():  # a rerun replaces what a killed run wrote
        write_part(layout.part("rejects", work.unit), "rejects", rejects)
    write_part(layout.part("videos", work.unit), "videos", rows)
    stats = {"rows": len(rows), "clips": len(clips), "shards": len(shard_rows), "steps": unit_stats(tasks)}
    write_atomic_bytes(layout.marker(f"{work.unit}.json"), json.dumps(stats, sort_keys=True).encode())
    shutil.rmtree(layout.work / work.unit, ignore_errors=True)
    return stats


def _mark_done(layout: CorpusLayout, unit: str, rows: list[dict]) -> dict:
    """A unit with nothing to run: its rows failed at plan time, or a killed run wrote all of it
    but its marker (tars, clips, shards and then videos parts, in that order: videos rows in their
    final state mean the rest is whole). What is there is kept; only the marker is written."""
    shards = layout.part("shards", unit)
    stats = {"rows": len(rows), "clips": sum(r.get("clips") or 0 for r in rows if r["status"] == "ok"),
             "shards": pq.read_metadata(shards).num_rows if shards.is_file() else 0, "steps": {}}
    write_atomic_bytes(layout.marker(f"{unit}.json"), json.dumps(stats, sort_keys=True).encode())
    return stats
