"""Deterministic units of work: the same plan gives the same unit ids. A unit's videos/ part is
written at plan time and replaced when the unit finishes; its marker in done/ is written last."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq

from corpus.errors import TRANSIENT_KINDS
from corpus.steps.base import Task
from manifests.layout import CorpusLayout
from manifests.tables import part_files, write_atomic_bytes, write_part

_RETRY_UNIT = re.compile(r"^r(\d+)-")


def fetch_key(row: dict) -> str:
    """Rows with the same key are cut from one fetched file (fetched once)."""
    return row["path"] or row["url"] or f"row{row['row']}"


def assign_units(rows: list[dict], unit_size: int, prefix: str = "u") -> list[str]:
    """Group rows by fetched file (first-appearance order) and chunk the groups into units of at
    least `unit_size` rows; a file's rows never span two units. Sets row['unit']."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[fetch_key(r)].append(r)
    units, current, count = [], None, 0
    for members in groups.values():
        if current is None or count >= unit_size:
            current, count = f"{prefix}{len(units):06d}", 0
            units.append(current)
        for r in members:
            r["unit"] = current
        count += len(members)
    return units


def write_unit_rows(layout: CorpusLayout, rows: list[dict]) -> None:
    by_unit: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_unit[r["unit"]].append(r)
    for unit, members in by_unit.items():
        write_part(layout.part("videos", unit), "videos", sorted(members, key=lambda r: r["row"]))


def unit_of(part: Path) -> str:
    return part.stem.removeprefix("part-")


def is_done(layout: CorpusLayout, unit: str) -> bool:
    return layout.marker(f"{unit}.json").is_file()


def mark_done(layout: CorpusLayout, unit: str, stats: dict) -> None:
    write_atomic_bytes(layout.marker(f"{unit}.json"), json.dumps(stats, sort_keys=True).encode())


def _read_rows(part: Path) -> list[dict]:
    return pq.read_table(part).to_pylist()


def pending_units(layout: CorpusLayout) -> list[str]:
    return [unit_of(p) for p in part_files(layout.table("videos")) if not is_done(layout, unit_of(p))]


def unit_tasks(layout: CorpusLayout, unit: str) -> tuple[list[dict], list[Task]]:
    """All rows of a unit, and the tasks (one per file to fetch) of its pending rows."""
    rows = _read_rows(layout.part("videos", unit))
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r["status"] == "pending":
            groups[fetch_key(r)].append(r)
    workdir = str(layout.work / unit)
    return rows, [Task(unit=unit, rows=members, workdir=workdir) for members in groups.values()]


def requeue_transient(layout: CorpusLayout, unit_size: int) -> int:
    """Move rows that failed for a transient reason in finished units into new units of a new
    retry round; finished shards are not touched. Returns the number of rows moved.

    The new parts are written before the old ones are rewritten, and selection reads finished
    units only, so a crash in between is repaired by simply running this again."""
    parts = part_files(layout.table("videos"))
    done = [p for p in parts if is_done(layout, unit_of(p))]
    moved: list[dict] = []
    keep: dict[Path, list[dict]] = {}
    for part in done:
        rows = _read_rows(part)
        retry = [r for r in rows if r["status"] == "failed" and r["error_kind"] in TRANSIENT_KINDS]
        if retry:
            moved.extend(retry)
            leaving = {r["row"] for r in retry}
            keep[part] = [r for r in rows if r["row"] not in leaving]
    if not moved:
        return 0
    rounds = [int(m.group(1)) for p in parts if (m := _RETRY_UNIT.match(unit_of(p)))]
    round_no = max(rounds, default=0) + 1
    for r in moved:
        r.update(status="pending", error_kind=None, error=None)
    assign_units(sorted(moved, key=lambda r: r["row"]), unit_size, prefix=f"r{round_no:03d}-")
    write_unit_rows(layout, moved)
    for part, rows in keep.items():
        write_part(part, "videos", rows)
    return len(moved)
