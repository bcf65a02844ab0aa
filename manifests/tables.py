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


def from_columns(name: str, columns: Mapping[str, pa.Array | pa.ChunkedArray], rows: int) -> pa.Table:
    """Columns as an Arrow table of the named schema, the missing ones null (what to_table does
    for rows, without a Python object per value)."""
    schema = TABLES[name]
    unknown = set(columns) - set(schema.names)
    if unknown:
        raise ValueError(f"{name} columns not in the schema: {sorted(unknown)}")
    return pa.Table.from_pydict({f.name: columns[f.name].cast(f.type) if f.name in columns else pa.nulls(rows, f.type)
                                 for f in schema}, schema=with_version(schema, name))


def write_atomic_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_part(path: Path, name: str, rows: Iterable[Mapping] | pa.Table) -> int:
    """Write one part file of table `name` (its rows, or a table from_columns made) atomically;
    returns the number of rows.

    A reader never sees a half-written part (see manifests/atomic.py)."""
    table = rows if isinstance(rows, pa.Table) else to_table(name, rows)
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


# What one column of one row group may decode to. A dictionary-encoded column can name one 4 MiB
# caption 2,000 times in 16 KB of file, and reading it asks Arrow for 8.4 GB.
MAX_DECODED_BYTES = 1 << 30


def check_decoded_size(file: str | Path, columns: list[str] | None = None) -> None:
    """ManifestError (one line, naming the part) when a byte-array column chunk of `file` (of
    `columns`, or every one) could decode to over MAX_DECODED_BYTES. Plain pages decode to about
    their own size; a dictionary page's values can be named once per row, so a dictionary-encoded
    chunk may decode to rows × its longest value: its dictionary page is read (without decoding the
    chunk) for that. A chunk this cannot bound is read with its dictionary kept and summed exactly."""
    meta = pq.read_metadata(file)
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            chunk = group.column(c)
            top = chunk.path_in_schema.split(".")[0]
            if chunk.physical_type != "BYTE_ARRAY" or (columns is not None and top not in columns):
                continue
            decoded = _decoded_bound(file, g, top, chunk)
            if decoded > MAX_DECODED_BYTES:
                raise ManifestError(f"{file}: column {chunk.path_in_schema!r} of row group {g} would decode to "
                                    f"{decoded:,} bytes ({chunk.num_values:,} values from "
                                    f"{chunk.total_compressed_size:,} bytes in the file), over the cap of "
                                    f"{MAX_DECODED_BYTES:,}; this table was not written by vmae")


def _decoded_bound(file: str | Path, group: int, column: str, chunk) -> int:
    """What a byte-array chunk can decode to, as cheaply as that can be known: its own size (plain
    pages, or few rows); rows × the longest dictionary value; else the exact count."""
    if not chunk.has_dictionary_page or chunk.num_values * chunk.total_uncompressed_size <= MAX_DECODED_BYTES:
        return chunk.total_uncompressed_size
    longest = _longest_dictionary_value(file, chunk)
    if longest is not None and chunk.num_values * longest + chunk.total_uncompressed_size <= MAX_DECODED_BYTES:
        return chunk.num_values * longest + chunk.total_uncompressed_size
    return _dictionary_decoded(file, group, column, chunk.path_in_schema)


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return value, at


def _longest_dictionary_value(file: str | Path, chunk) -> int | None:
    """The length of the longest value of a chunk's dictionary page (PLAIN byte arrays), read from
    the page itself; None when the page is not laid out as Arrow and parquet-mr write it. The page
    header is Thrift's compact encoding: type, uncompressed size, compressed size come first, each
    an i32 field (0x15) holding a zigzag varint."""
    start, span = chunk.dictionary_page_offset, chunk.data_page_offset - chunk.dictionary_page_offset
    if not 0 < span <= MAX_DECODED_BYTES:
        return None
    with open(file, "rb") as f:
        f.seek(start)
        page = f.read(span)
    try:
        at, sizes = 0, []
        for _ in range(3):
            if page[at] != 0x15:
                return None
            value, at = _varint(page, at + 1)
            sizes.append((value >> 1) ^ -(value & 1))
        _, plain, packed = sizes
        if not 0 <= plain <= MAX_DECODED_BYTES or not 0 < packed <= span:
            return None
        body = page[span - packed:]
        if chunk.compression != "UNCOMPRESSED":
            body = pa.decompress(body, decompressed_size=plain, codec=chunk.compression.lower()).to_pybytes()
    except (IndexError, ValueError, OSError, pa.ArrowException):
        return None
    longest, at = 0, 0
    while at + 4 <= len(body):
        size = int.from_bytes(body[at:at + 4], "little")
        longest, at = max(longest, size), at + 4 + size
    return longest if at == len(body) else None


def _dictionary_decoded(file: str | Path, group: int, column: str, path: str) -> int:
    """The bytes a dictionary-encoded chunk decodes to: each value's length, summed over the rows
    (its dictionary and indices are read, never the values once per row)."""
    import pyarrow.compute as pc

    read = pq.ParquetFile(file, read_dictionary=[path]).read_row_group(group, columns=[column])[column]
    total = 0
    for piece in read.chunks:
        while pa.types.is_list(piece.type) or pa.types.is_large_list(piece.type):
            piece = piece.flatten()
        if pa.types.is_dictionary(piece.type):
            lengths = pc.binary_length(piece.dictionary)
            total += pc.sum(pc.take(lengths, piece.indices)).as_py() or 0
        else:  # read plain after all: it has been decoded, and its size is known
            total += piece.nbytes
    return total


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
    dataset = _dataset(root, name, required, columns)
    if dataset is None:
        empty = with_version(TABLES[name], name).empty_table()
        return empty.select(columns) if columns is not None else empty
    return dataset.to_table(columns=columns)


def read_batches(root: Path, name: str, columns: list[str], rows: int) -> Iterator[pa.RecordBatch]:
    """`columns` of table `name`, `rows` rows at a time (nothing when it has no parts): a wide
    column (a million clips' signatures) costs one batch's decoding at a time, not the table's.
    Each part is read with its own Parquet reader, which holds one row group at a time (a
    dataset scanner reads further ahead: gigabytes of a wide table); a column an older part
    lacks reads as nulls, as in read_table."""
    schema = pa.schema([TABLES[name].field(c) for c in columns])
    for f in _part_files_checked(Path(root), name, required=False, columns=columns):
        # no pre-buffering: it keeps every row group's column chunks read so far until the reader
        # goes (1.2 GB of 1.35M clips' signatures; and reading was 1.5x slower with it here)
        reader = pq.ParquetFile(f, pre_buffer=False)
        present = [c for c in columns if c in reader.schema_arrow.names]
        for batch in reader.iter_batches(batch_size=rows, columns=present, use_threads=False):
            yield pa.RecordBatch.from_arrays(
                [batch.column(c).cast(field.type) if c in present else pa.nulls(batch.num_rows, field.type)
                 for c, field in zip(columns, schema, strict=True)], schema=schema)


def _part_files_checked(root: Path, name: str, required: bool, columns: list[str] | None) -> list[Path]:
    """The part files of the table's current generation, every one checked (schema, and what
    `columns` decode to)."""
    folder = Path(root) / name
    generation = current(folder)
    files = part_files(generation) if generation.is_dir() else []
    if not files and required:
        raise ManifestError(f"{folder}: no part files. Is {root} a vmae corpus folder (made by 'vmae corpus build')?")
    for f in files:
        _check_part_schema(f, name)
        check_decoded_size(f, columns)
    return files


def _dataset(root: Path, name: str, required: bool, columns: list[str] | None = None):
    """The table's current generation as a pyarrow dataset, every part checked (schema, and what
    `columns` decode to); None when it has no parts (and `required` is false)."""
    files = _part_files_checked(Path(root), name, required, columns)
    if not files:
        return None
    import pyarrow.dataset as ds  # here: it imports pandas, which processes that only write tables never need

    return ds.dataset([str(f) for f in files], format="parquet", schema=TABLES[name])


def read_frame(root: Path, name: str, *, required: bool = True):
    """The table as a pandas DataFrame (pandas is imported here: workers that only write tables
    start without it)."""
    return read_table(root, name, required=required).to_pandas()
