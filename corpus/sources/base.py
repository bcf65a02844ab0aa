"""What every source shares: the plan row, row failures and the duplicate rule."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from corpus.errors import InputError
from corpus.options import BuildOptions, NoOptions
from corpus.sources.tabular import find_column, read_rows
from manifests.labels.label_list import read_label_list
from manifests.options import OptionError, read_options

# How a source's rows are fetched: over HTTP, through yt-dlp, or read where they lie.
FETCH_HTTP, FETCH_YTDLP, FETCH_LOCAL = "http", "ytdlp", "local"


def plan_row(source: str, video_id: str, **fields) -> dict:
    """A videos/ row as planned: every contract column present, status pending. Give `caption`
    (one) or `captions` (all, in order): the row keeps both, `caption` being the first."""
    row = {
        "video_id": video_id, "source": source, "url": None, "path": None, "offset_s": 0.0,
        "start_s": None, "end_s": None, "label": None, "label_id": None, "split": None,
        "caption": None, "captions": None, "meta": None, "status": "pending", "error_kind": None, "error": None,
        "attempts": 0,
    }
    row.update(fields)
    if row["captions"]:
        row["caption"] = row["captions"][0]
    elif row["caption"] is not None:
        row["captions"] = [row["caption"]]
    else:
        row["captions"] = None
    return row


def fail(row: dict, kind: str, message: str, *, skipped: bool = False) -> dict:
    row.update(status="skipped" if skipped else "failed", error_kind=kind, error=message)
    return row


def unreadable(source: str, path: str, line: int, error: str | None) -> dict:
    """The plan row of an input line that could not be parsed: a bad_row naming file and line."""
    return fail(plan_row(source, f"line{line}", meta=meta_json({"input": path, "line": line})), "bad_row",
                f"{path}:{line}: {error}")


def meta_json(values: dict) -> str | None:
    return json.dumps(values, ensure_ascii=False, sort_keys=True, default=str) if values else None


def parse_time(value) -> float | None:
    """Seconds from a CSV cell; None when empty or not a finite number."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        t = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer too large for a float
        return None
    return t if math.isfinite(t) else None


def is_plain_name(text: str) -> bool:
    """A file name that stays in the folder it is joined to: no separator, no '..', no NUL. Ids
    from an input file decide which file of a local folder is read, so anything else is refused."""
    return bool(text) and text not in (".", "..") and not any(c in text for c in "/\\\0")


def file_in(folder: Path, relative: str, what: str) -> tuple[Path | None, str | None]:
    """The file an annotation's relative path names inside `folder`, or (None, why not): a path
    with a NUL, one that names no file ('/', '.', 'a/..'), or one that leads out of the folder is
    a problem of that one entry, never an exception that stops the plan."""
    if "\0" in relative:
        return None, f"{relative!r} holds a NUL character"
    if Path(relative).name in ("", ".", ".."):
        return None, f"{relative!r} names no file"
    file = (folder / relative).resolve()
    if not file.is_relative_to(folder.resolve()):
        return None, f"{relative!r} lies outside the {what} folder {folder}"
    return file, None


def check_range(row: dict) -> dict:
    """Reversed, negative or empty annotated ranges are bad rows."""
    s, e = row["start_s"], row["end_s"]
    if s is not None and e is not None and (s < 0 or e <= s):
        fail(row, "bad_row", f"time range [{s}, {e}] is empty, reversed or negative")
    return row


def mark_duplicates(rows: Iterable[dict]) -> Iterator[dict]:
    """The second and later rows with the same video and cut are skipped as duplicates."""
    seen: dict[tuple, int] = {}
    for i, row in enumerate(rows):
        key = (row["video_id"], row["start_s"], row["end_s"])
        if row["status"] == "pending":
            if key in seen:
                fail(row, "duplicate", f"same video and time range as input row #{seen[key] + 1}",
                     skipped=True)
            else:
                seen[key] = i
        yield row


@dataclass
class Plan:
    rows: list[dict]
    labels: list[str] | None = None  # class order of a labeled corpus
    report: dict = field(default_factory=dict)  # counts and findings worth showing the user


def apply_labels(rows: list[dict], labels: list[str] | None, label_map: str | None) -> tuple[list[str] | None, dict]:
    """Fix the class order and set label_id. A --label-map file wins over the source's order;
    without either, the order is sorted. Rows whose class the map lacks are skipped as
    unknown_label (counted, never relabeled). Returns (labels, {unknown class: rows})."""
    if label_map:
        try:
            labels = read_label_list(label_map)
        except (OSError, ValueError) as e:
            raise InputError(f"--label-map: {e}") from e
    elif labels is None:
        labels = sorted({r["label"] for r in rows if r["label"] is not None and r["status"] == "pending"}) or None
    if labels is None:
        return None, {}
    index = {name: i for i, name in enumerate(labels)}
    unknown: dict[str, int] = {}
    for r in rows:
        if r["label"] is None:
            continue
        r["label_id"] = index.get(r["label"])
        if r["label_id"] is None and r["status"] == "pending":
            unknown[r["label"]] = unknown.get(r["label"], 0) + 1
            fail(r, "unknown_label", f"class '{r['label']}' is not in the label map {label_map}", skipped=True)
    return labels, dict(sorted(unknown.items()))


class Source:
    """Turns user input into plan rows. Subclasses set `name` and `fetcher`, may declare their own
    `Options` (a frozen dataclass of `option` fields, filled from BuildOptions.source_options) and
    `presets` (settings their inputs call for), and write plan()."""

    name: ClassVar[str]
    fetcher: ClassVar[str]
    Options: ClassVar[type] = NoOptions
    summary: ClassVar[str] = ""  # one line: what its inputs are, for the help and the docs' table of sources
    splits_shots: ClassVar[bool] = False  # rows are whole videos, so --split shots may cut them
    media: ClassVar[str] = "video"  # what its rows become: video clips, or images (corpus/pipeline.py's STEPS)

    def __init__(self, options: BuildOptions):
        self.options = options
        self.opts = self.read_options(options.source_options)

    @classmethod
    def read_options(cls, given: dict):
        try:
            return read_options(cls.Options, given, f"the {cls.name} source")
        except OptionError as e:
            raise InputError(str(e)) from e

    @classmethod
    def presets(cls, chosen: dict) -> list[dict]:
        """Layers of settings (by section, lowest first) this source's inputs call for, under what
        the user `chosen` (by section): movies cut 10 s windows unless told otherwise."""
        return []

    def plan(self) -> Plan:
        raise NotImplementedError

    def extra_files(self, rows: list[dict], labels: list[str] | None) -> dict[str, bytes]:
        """Files the source adds to the corpus folder once labels are final (path → content)."""
        return {}

    def rows_of_lines(self, wanted: dict[str, tuple[str, ...]], required: tuple[str, ...], layout: str,
                      make: Callable[[str, int, dict, dict], list[dict]]) -> list[dict]:
        """Plan rows of every input file read line by line (CSV, TSV, JSONL, Parquet): its columns
        found by name (`wanted`: role -> candidate names, the first one the documented name), a
        file lacking a `required` one refused naming `layout`, and make(path, line, values, cols)
        the rows of each parsed line; a line that cannot be parsed is one bad_row."""
        rows: list[dict] = []
        for path in self.options.inputs:
            columns, records = read_rows(path)
            cols = {role: find_column(columns, names) for role, names in wanted.items()}
            missing = [wanted[role][0] for role in required if cols[role] is None]
            if missing:
                raise InputError(f"{path}: no column {missing}; {layout} (found {columns})")
            for rec in records:
                rows += [unreadable(self.name, path, rec.line, rec.error)] if rec.values is None else \
                    make(path, rec.line, rec.values, cols)
        return rows
