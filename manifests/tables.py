"""Writing and reading corpus tables: atomic part files, checked schemas."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from manifests.atomic import atomic_path
from manifests.errors import ManifestError
from manifests.generations import current, ensure
from manifests.schemas import ADDED_COLUMNS, READABLE_VERSIONS, TABLES, VERSION_KEY, with_version


def to_table(name: str, rows: Iterable[Mapping]) -> pa.Table:
    """Rows (dicts) as an Arrow table of the named schema; missing keys become nulls and
    unknown keys are an error, so a typo in a writer cannot silently drop a column."""
    schema = TABLES[name]
    rows = list(rows)
    unknown = {k for r in rows for k in r} - set(schema.names)
    if unknown:
        raise ValueError(f"{name} rows carry columns not in the schema: {sorted(unknown)}")
    # from_pandas: NaN and pd.NA (how pandas marks missing values) are stored as nulls
    columns = {f.name: pa.array([r.get(f.name) for r in rows], type=f.type, from_pandas=True) for f in schema}
    return pa.Table.from_pydict(columns, schema=with_version(schema, name))


def write_atomic_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_part(path: Path, name: str, rows: Iterable[Mapping]) -> int:
    """Write one part file of table `name` atomically; returns the number of rows.

    A reader never sees a half-written part (see manifests/atomic.py)."""
    table = to_table(name, rows)
    ensure(Path(path).parent)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return table.num_rows


def _check_part_schema(file: Path, name: str) -> None:
    schema = pq.read_schema(file)
    tag = (schema.metadata or {}).get(VERSION_KEY, b"").decode()
    readable = [f"{name}/{v}" for v in READABLE_VERSIONS]
    expected = "' or '".join(readable)
    if tag not in readable:
        found = tag or "no vmae schema tag"
        raise ManifestError(
            f"{file}: table schema is '{found}', this vmae reads '{expected}'. "
            "Rebuild the corpus with this version of vmae, or use the vmae version that wrote it."
        )
    missing = set(TABLES[name].names) - set(schema.names) - ADDED_COLUMNS.get(name, set())
    if missing:
        raise ManifestError(f"{file}: missing columns {sorted(missing)} of table '{name}'")


def part_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("part-*.parquet") if p.is_file())


def read_table(root: Path, name: str, *, required: bool = True, columns: list[str] | None = None) -> pa.Table:
    """Read table `name` of the corpus at `root` (only `columns` when given), checking version and
    columns of every part. The table's current generation is resolved once and read whole
    (manifests/generations.py); a part replaced under the reader (a generation older than the
    grace period) means reading again."""
    for attempt in range(3):
        try:
            return _read_generation(Path(root), name, required, columns)
        except FileNotFoundError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _read_generation(root: Path, name: str, required: bool, columns: list[str] | None) -> pa.Table:
    dataset = _dataset(root, name, required)
    if dataset is None:
        empty = with_version(TABLES[name], name).empty_table()
        return empty.select(columns) if columns is not None else empty
    return dataset.to_table(columns=columns)


def read_batches(root: Path, name: str, columns: list[str], rows: int) -> Iterator[pa.RecordBatch]:
    """`columns` of table `name`, `rows` rows at a time (nothing when it has no parts): a wide
    column (a million clips' signatures) costs one batch's decoding at a time, not the table's."""
    dataset = _dataset(Path(root), name, required=False)
    if dataset is not None:
        yield from dataset.to_batches(columns=columns, batch_size=rows, batch_readahead=1, fragment_readahead=1)


def _dataset(root: Path, name: str, required: bool):
    """The table's current generation as a pyarrow dataset, every part checked; None when it has
    no parts (and `required` is false)."""
    folder = Path(root) / name
    generation = current(folder)
    files = part_files(generation) if generation.is_dir() else []
    if not files:
        if required:
            raise ManifestError(
                f"{folder}: no part files. Is {root} a vmae corpus folder (made by 'vmae corpus build')?"
            )
        return None
    for f in files:
        _check_part_schema(f, name)
    import pyarrow.dataset as ds  # here: it imports pandas, which processes that only write tables never need

    return ds.dataset([str(f) for f in files], format="parquet", schema=TABLES[name])


def read_frame(root: Path, name: str, *, required: bool = True):
    """The table as a pandas DataFrame (pandas is imported here: workers that only write tables
    start without it)."""
    return read_table(root, name, required=required).to_pandas()
