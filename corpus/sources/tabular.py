"""Reading row-oriented input files (CSV, TSV, JSONL, Parquet) one row at a time, so that a
malformed row becomes a failed plan row instead of stopping the whole read."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from corpus.errors import InputError
from manifests.errors import ManifestError
from manifests.tables import check_decoded_size


@dataclass
class InputRow:
    line: int  # 1-based line (or row) number in the file, for messages
    values: dict | None  # None when the row could not be parsed
    error: str | None = None


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def bad_utf8_columns(values: dict) -> list[str]:
    """Columns whose text was not valid UTF-8 in the file (read with surrogateescape)."""
    return [k for k, v in values.items() if isinstance(v, str) and _has_surrogates(v)]


def cell_text(value) -> str:
    """A cell as stripped text: '' for a missing one; numbers (JSONL and Parquet cells need not be
    strings) as their text."""
    return "" if value is None else str(value).strip()


def repaired(text: str) -> str:
    """Text safe to store: undecodable bytes become U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _read_delimited(path: Path, delimiter: str,
                    quoting: int = csv.QUOTE_MINIMAL) -> tuple[list[str], Iterator[InputRow]]:
    f = open(path, newline="", encoding="utf-8", errors="surrogateescape")  # noqa: SIM115
    reader = csv.reader(f, delimiter=delimiter, quoting=quoting)
    header = next(reader, None)
    if not header:
        f.close()
        raise InputError(f"{path}: the file is empty; expected a header row naming the columns")
    cells = [h.strip().lstrip("\ufeff") for h in header]
    first: InputRow | None = None
    if any(c.lower().startswith(("http://", "https://")) for c in cells):  # no header row: CC3M, CC12M
        header = _positional_names(cells)
        first = InputRow(1, dict(zip(header, cells, strict=True)))
    else:
        header = cells

    def rows() -> Iterator[InputRow]:
        with f:
            if first is not None:
                yield first
            while True:
                line = reader.line_num + 1
                try:
                    fields = next(reader)
                except StopIteration:
                    return
                except csv.Error as e:
                    yield InputRow(line, None, f"malformed CSV row: {e}")
                    continue
                if not fields or all(not x.strip() for x in fields):
                    continue
                if len(fields) != len(header):
                    yield InputRow(line, None, f"expected {len(header)} fields, found {len(fields)}")
                    continue
                yield InputRow(line, dict(zip(header, fields, strict=True)))

    return header, rows()


def _positional_names(cells: list[str]) -> list[str]:
    """Column names of a file without a header, from its first row: the first URL cell is 'url';
    beside it, the one other column of a two-column file (CC3M's and CC12M's TSVs) is 'caption'."""
    url = next(i for i, c in enumerate(cells) if c.lower().startswith(("http://", "https://")))
    return ["url" if i == url else "caption" if len(cells) == 2 else f"column{i}" for i in range(len(cells))]


def _read_jsonl(path: Path) -> tuple[list[str], Iterator[InputRow]]:
    lines = path.read_bytes().decode("utf-8", "surrogateescape").splitlines()
    parsed: list[InputRow] = []
    columns: dict[str, None] = {}
    for i, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except RecursionError:  # nested deeper than Python's stack: one bad line, not a crash
            parsed.append(InputRow(i, None, "malformed JSON line: nested too deeply"))
            continue
        except ValueError as e:  # malformed, or an integer over Python's 4,300-digit limit
            parsed.append(InputRow(i, None, f"malformed JSON line: {str(e).split(';')[0]}"))
            continue
        if not isinstance(obj, dict):
            parsed.append(InputRow(i, None, "a JSONL line must be a JSON object"))
            continue
        columns.update(dict.fromkeys(obj))
        parsed.append(InputRow(i, obj))
    return list(columns), iter(parsed)


def _read_parquet(path: Path) -> tuple[list[str], Iterator[InputRow]]:
    try:
        check_decoded_size(path)  # a list from a stranger: its cells may decode to far more than the file
    except ManifestError as e:
        raise InputError(str(e)) from None
    table = pq.read_table(path)
    records = table.to_pylist()

    def clean(v):
        return None if isinstance(v, float) and math.isnan(v) else v

    return table.column_names, (
        InputRow(i, {k: clean(v) for k, v in r.items()}) for i, r in enumerate(records, start=1)
    )


def read_rows(path: str | Path) -> tuple[list[str], Iterator[InputRow]]:
    """Columns and rows of a CSV, TSV, JSONL or Parquet file (chosen by extension)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: input file not found")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return _read_delimited(path, ",")
    if suffix == ".tsv":
        return _read_delimited(path, "\t", csv.QUOTE_NONE)  # TSV lists (CC3M, CC12M) quote nothing
    if suffix in (".jsonl", ".ndjson"):
        return _read_jsonl(path)
    if suffix in (".parquet", ".pq"):
        return _read_parquet(path)
    raise InputError(f"{path}: unknown input format '{suffix}'; use .csv, .tsv, .jsonl or .parquet")


def find_column(columns: list[str], candidates: tuple[str, ...]) -> str | None:
    """The first column whose name matches one of the candidates, ignoring case."""
    by_lower = {c.lower(): c for c in columns}
    for cand in candidates:
        if cand.lower() in by_lower:
            return by_lower[cand.lower()]
    return None


def read_json(path: Path, max_bytes: int):
    """A whole JSON annotation file (a list or an object), at most `max_bytes`; a one-line
    InputError naming the file when it is missing, too large, malformed or nested too deeply."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: annotation file not found")
    if path.stat().st_size > max_bytes:
        raise InputError(f"{path}: {path.stat().st_size:,} bytes, over the {max_bytes:,} an annotation file may have")
    try:
        return json.loads(path.read_bytes().decode("utf-8", "replace"))
    except RecursionError:
        raise InputError(f"{path}: JSON nested too deeply") from None
    except ValueError as e:
        raise InputError(f"{path}: not JSON ({str(e).split(';')[0]})") from None
