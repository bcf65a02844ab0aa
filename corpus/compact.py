"""Keeping a corpus' tables few and large. While a build runs, every unit writes small parts (one
per table); a finished build, and `vmae corpus compact DIR`, merge them into a few large files,
so reading a 650k-row videos/ table costs about what one file costs. Before a build runs units,
the videos rows of those units are split out into their own parts again, so each unit can replace
its rows alone. Both are one generation switch per table (manifests/generations.py): safe against
kill -9 at any moment, and every input row is in videos/ exactly once throughout."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from manifests.generations import new_generation
from manifests.layout import CorpusLayout
from manifests.schemas import TABLES, with_version
from manifests.tables import part_files, read_table

ROWS_PER_FILE = 1_000_000  # a 650k-row K400 plan reads as one file
# Row groups of this many rows: a reader that goes a batch at a time (dedup's signatures) then
# decodes one group's list columns at once, not a million rows' (several GB)
ROW_GROUP = 65_536
SORT_KEYS = {"videos": "row", "clips": "clip_key", "shards": "shard", "rejects": "row"}


def _write_chunks(folder: Path, table: pa.Table) -> None:
    """The table in files of ROWS_PER_FILE rows, named for this generation alone (see generations.py)."""
    own = uuid.uuid4().hex[:8]
    for k, start in enumerate(range(0, max(table.num_rows, 1), ROWS_PER_FILE)):
        pq.write_table(table.slice(start, ROWS_PER_FILE), folder / f"part-c{k:06d}-{own}.parquet", compression="zstd",
                       row_group_size=ROW_GROUP)


def _write_units(folder: Path, table: pa.Table) -> None:
    """One part per unit of `table` (sorted by unit, so each unit is one slice)."""
    units = table["unit"].to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(np.r_[True, units[1:] != units[:-1]])
    for start, end in zip(starts, np.r_[starts[1:], len(units)], strict=True):
        pq.write_table(table.slice(start, end - start), folder / f"part-{units[start]}.parquet", compression="zstd",
                       row_group_size=ROW_GROUP)


def write_table(layout: CorpusLayout, name: str, table: pa.Table, split: set[str] = frozenset()) -> None:
    """Make `table` the whole of table `name`: a few large files, and one part for each unit in
    `split` (units a build is about to run)."""
    table = table.sort_by(SORT_KEYS[name]).replace_schema_metadata(with_version(TABLES[name], name).metadata)
    apart = pc.is_in(table["unit"], value_set=pa.array(sorted(split), pa.string()))
    rest, units = table.filter(pc.invert(apart)), table.filter(apart)
    with new_generation(layout.table(name)) as folder:
        if rest.num_rows or not units.num_rows:  # an empty table is still one (empty) file
            _write_chunks(folder, rest)
        if units.num_rows:
            _write_units(folder, units.sort_by([("unit", "ascending"), (SORT_KEYS[name], "ascending")]))


def write_table_batches(layout: CorpusLayout, name: str, pieces: Iterable[pa.Table]) -> int:
    """Make the pieces, in order, the whole of table `name`, in files of ROWS_PER_FILE rows,
    holding one piece at a time: a table larger than memory (a 25M-clip mix's videos/). The
    pieces must come sorted as the table is (SORT_KEYS). Returns the rows written."""
    schema = with_version(TABLES[name], name)
    own, written, files = uuid.uuid4().hex[:8], 0, 0
    with new_generation(layout.table(name)) as folder:
        writer = None
        for piece in pieces:
            piece = piece.cast(schema)
            while piece.num_rows:
                if writer is None or written >= ROWS_PER_FILE * files:
                    if writer is not None:
                        writer.close()
                    writer = pq.ParquetWriter(folder / f"part-c{files:06d}-{own}.parquet", schema, compression="zstd")
                    files += 1
                room = ROWS_PER_FILE * files - written
                writer.write_table(piece.slice(0, room), row_group_size=ROW_GROUP)
                written += min(room, piece.num_rows)
                piece = piece.slice(room)
        if writer is None:  # an empty table is still one (empty) file
            pq.write_table(schema.empty_table(), folder / f"part-c000000-{own}.parquet", compression="zstd")
        else:
            writer.close()
    return written


def split_units(layout: CorpusLayout, units: set[str]) -> bool:
    """Give each of `units` its own videos part, unless each already has one to itself; returns
    whether the table was rewritten."""
    for f in part_files(layout.table("videos")):
        held = set(pq.read_table(f, columns=["unit"])["unit"].to_pylist())
        if held & units and held != {f.stem.removeprefix("part-")}:
            write_table(layout, "videos", read_table(layout.root, "videos"), split=units)
            return True
    return False


def unfinished_units(layout: CorpusLayout) -> set[str]:
    """Units that still have pending rows: not run yet, or killed before they finished."""
    videos = read_table(layout.root, "videos").select(["unit", "status"])
    return set(pc.unique(videos.filter(pc.equal(videos["status"], "pending"))["unit"]).to_pylist())


def _is_compact(files: list[Path], rows: int) -> bool:
    return (all(f.name.startswith("part-c") for f in files) and len(files) == max(1, -(-rows // ROWS_PER_FILE))
            and rows == sum(pq.read_metadata(f).num_rows for f in files))


def compact(layout: CorpusLayout) -> dict[str, tuple[int, int]]:
    """Merge every table into a few large files. clips/ and shards/ drop the rows of unfinished
    units: a unit killed after writing a part writes it again when it runs. Returns {table:
    (files before, files after)} for the tables rewritten; a table already compact is left."""
    unfinished = pa.array(sorted(unfinished_units(layout)), pa.string())
    changed = {}
    for name in ("videos", "clips", "shards", "rejects"):
        if not layout.table(name).exists():
            continue
        files = part_files(layout.table(name))
        table = read_table(layout.root, name)
        if name != "videos":
            table = table.filter(pc.invert(pc.is_in(table["unit"], value_set=unfinished)))
        if not _is_compact(files, table.num_rows):
            write_table(layout, name, table)
            changed[name] = (len(files), len(part_files(layout.table(name))))
    return changed
