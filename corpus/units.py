"""Deterministic units of work: the same plan gives the same unit ids. The plan writes videos/ as
a few large files; before a build runs units, each gets its own part (corpus/compact.py), which it
replaces when it finishes; its marker in done/ is written last."""

from __future__ import annotations

import re
from collections import defaultdict

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from corpus.compact import write_table
from corpus.errors import TRANSIENT_KINDS
from corpus.steps.base import Task
from manifests.layout import CorpusLayout
from manifests.tables import read_table, to_table

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


def write_plan(layout: CorpusLayout, rows: list[dict]) -> None:
    """videos/ as planned: every row, in a few large files (one generation switch)."""
    write_table(layout, "videos", to_table("videos", rows))


def is_done(layout: CorpusLayout, unit: str) -> bool:
    return layout.marker(f"{unit}.json").is_file()


def pending_units(layout: CorpusLayout) -> list[str]:
    """Units without a done marker, in plan order."""
    units = pc.unique(read_table(layout.root, "videos").sort_by("row")["unit"]).to_pylist()
    return [u for u in units if not is_done(layout, u)]


def unit_tasks(layout: CorpusLayout, unit: str, fetcher: str) -> tuple[list[dict], list[Task]]:
    """All rows of a unit (from its own part), and the tasks (one per file to fetch) of its
    pending rows, each carrying its fetcher: the source's, or local for rows with a local path."""
    rows = pq.read_table(layout.part("videos", unit)).to_pylist()
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r["status"] == "pending":
            groups[fetch_key(r)].append(r)
    workdir = str(layout.work / unit)
    return rows, [Task(unit=unit, rows=members, workdir=workdir, fetcher="local" if members[0]["path"] else fetcher)
                  for members in groups.values()]


def update_rows(layout: CorpusLayout, changed: list[dict]) -> None:
    """Replace the rows `changed` (by row number) in videos/, in one generation switch."""
    videos = read_table(layout.root, "videos")
    numbers = pa.array([r["row"] for r in changed], pa.int64())
    kept = videos.filter(pc.invert(pc.is_in(videos["row"], value_set=numbers)))
    write_table(layout, "videos", pa.concat_tables([kept, to_table("videos", changed).cast(kept.schema)]))


def requeue_transient(layout: CorpusLayout, unit_size: int) -> int:
    """Move rows that failed for a transient reason in finished units into new units of a new
    retry round; finished shards are not touched. Returns the number of rows moved."""
    videos = read_table(layout.root, "videos")
    failed = videos.filter(pc.and_(pc.equal(videos["status"], "failed"),
                                   pc.is_in(videos["error_kind"], value_set=pa.array(sorted(TRANSIENT_KINDS)))))
    return requeue(layout, videos, failed.to_pylist(), unit_size)


def requeue_rows(layout: CorpusLayout, numbers: list[int], unit_size: int) -> int:
    """Put the rows `numbers` that finished units failed back to pending, in new units (a set-up
    fault, not the rows, failed them). Returns the number of rows moved."""
    videos = read_table(layout.root, "videos")
    chosen = videos.filter(pc.and_(pc.is_in(videos["row"], value_set=pa.array(numbers, pa.int64())),
                                   pc.equal(videos["status"], "failed")))
    return requeue(layout, videos, chosen.to_pylist(), unit_size)


def requeue(layout: CorpusLayout, videos: pa.Table, rows: list[dict], unit_size: int) -> int:
    """Rows of finished units back to pending, in new units of a new retry round. One generation
    switch: a crash leaves the table as it was, and running this again redoes it."""
    moved = [r for r in rows if is_done(layout, r["unit"])]
    if not moved:
        return 0
    units = pc.unique(videos["unit"]).to_pylist()
    rounds = [int(m.group(1)) for u in units if (m := _RETRY_UNIT.match(u))]
    for r in moved:
        r.update(status="pending", error_kind=None, error=None)
    assign_units(sorted(moved, key=lambda r: r["row"]), unit_size, prefix=f"r{max(rounds, default=0) + 1:03d}-")
    update_rows(layout, moved)
    return len(moved)
