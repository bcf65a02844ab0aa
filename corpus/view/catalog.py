"""What the viewer knows of the corpora: the columns it shows of their tables, copied once when the
viewer starts into a DuckDB database in a temporary file, and asked per request for one page
(filtered, sorted, counted by DuckDB). Memory stays that of DuckDB's buffer (MEMORY) whatever
the corpora's size, where pandas frames of the shown columns took 3 GB at 2.4M rows; the
browser only ever gets one page."""

from __future__ import annotations

import math
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from corpus.errors import InputError
from manifests.layout import CorpusLayout
from manifests.schemas import TABLES
from manifests.tables import read_batches

# the quality scores clips/ has (manifests/quality.py) and the motion score; filterable by range
SCORES = ("motion", "sharpness", "frozen", "bars", "overlay", "duration_s")
CLIP_COLUMNS = ["clip_key", "video_id", "source", "row", "start_s", "end_s", "duration_s", "fps", "width", "height",
                "bytes", "sha256", "label", "split", "caption", "shard", "media", "origin_corpus", "origin_key",
                "motion", "sharpness", "frozen", "bars", "overlay"]
ROW_COLUMNS = ["row", "video_id", "source", "url", "path", "label", "split", "caption", "status", "error_kind",
               "error", "attempts", "duration_s", "width", "height", "clips"]
DEDUP_COLUMNS = ["clip_key", "keep", "reason", "duplicate_of", "duplicate_corpus", "distance", "cluster", "similarity"]
REJECT_COLUMNS = ["clip_key", "video_id", "row", "source", "start_s", "end_s", "filter", "reason", "detail",
                  "preview"]
PAGE_SIZES = (24, 48, 96, 200)


@dataclass(frozen=True)
class View:
    """One table of a corpus as a page shows it: the columns that filter it by value, and those
    that filter it by range and sort it."""

    name: str
    choices: tuple[str, ...]  # filtered by equality (a drop-down of the values present)
    ranges: tuple[str, ...] = ()  # filtered by min/max
    sorts: tuple[str, ...] = ()


VIEWS = {
    "clips": View("clips", ("source", "split", "label", "media", "reason"), SCORES,
                  ("clip_key", "source", "label", *SCORES)),
    "rows": View("rows", ("source", "split", "label", "status", "error_kind"), ("duration_s",),
                 ("row", "video_id", "status", "error_kind", "duration_s")),
    "dedup": View("dedup", ("reason", "source"), ("distance", "similarity"), ("clip_key", "distance", "similarity")),
    "rejects": View("rejects", ("filter", "reason", "source"), (), ("clip_key", "filter", "reason")),
}


@dataclass
class Query:
    """A page's question, from its URL: never anything but known columns and numbers."""

    view: View
    equal: dict[str, str] = field(default_factory=dict)
    low: dict[str, float] = field(default_factory=dict)
    high: dict[str, float] = field(default_factory=dict)
    sort: str | None = None
    descending: bool = False
    page: int = 1
    per_page: int = PAGE_SIZES[0]

    @classmethod
    def parse(cls, view: View, params: dict[str, str]) -> Query:
        q = cls(view)
        q.equal = {c: params[c] for c in view.choices if params.get(c)}
        for bound, into in (("min_", q.low), ("max_", q.high)):
            for c in view.ranges:
                value = _number(params.get(bound + c))
                if value is not None:
                    into[c] = value
        q.sort = params.get("sort") if params.get("sort") in view.sorts else None
        q.descending = params.get("desc") == "1"
        q.page = max(1, int(_number(params.get("page")) or 1))
        per_page = int(_number(params.get("per_page")) or PAGE_SIZES[0])
        q.per_page = per_page if per_page in PAGE_SIZES else PAGE_SIZES[0]
        return q

    def params(self, **change) -> dict[str, str]:
        """The query as URL parameters, with some changed (a link to another page or order)."""
        out = dict(self.equal)
        out |= {f"min_{c}": f"{v:g}" for c, v in self.low.items()}
        out |= {f"max_{c}": f"{v:g}" for c, v in self.high.items()}
        if self.sort:
            out["sort"] = self.sort
        if self.descending:
            out["desc"] = "1"
        out["per_page"] = str(self.per_page)
        out["page"] = str(self.page)
        out |= {k: str(v) for k, v in change.items() if v is not None}
        return {k: v for k, v in out.items() if v != ""}


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text not in (None, "") else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


MEMORY = "1GB"  # DuckDB's buffer for every corpus shown; the database file holds the rest
_BATCH = 65_536  # rows copied into the database at once


@dataclass
class Page:
    frame: pd.DataFrame  # the page's rows; its index is each row's position in its table
    total: int  # rows that match, over all pages
    pages: int


class Database:
    """One DuckDB database for the corpora shown, in a temporary folder removed with it."""

    def __init__(self) -> None:
        import duckdb  # here: only the viewer needs it

        self._folder = tempfile.TemporaryDirectory(prefix="vmae-view-")
        self._db = duckdb.connect(os.path.join(self._folder.name, "tables.duckdb"))
        self._db.execute(f"SET memory_limit = '{MEMORY}'")
        self._db.execute("SET temp_directory = ?", [os.path.join(self._folder.name, "spill")])
        self._db.execute("SET preserve_insertion_order = true")
        self._local = threading.local()

    def _cursor(self):
        """This thread's connection (the server answers requests on threads; opening one per query
        took a few milliseconds of a page's ten)."""
        if getattr(self._local, "db", None) is None:
            self._local.db = self._db.cursor()
        return self._local.db

    def copy(self, name: str, root: Path, table: str, columns: list[str]) -> None:
        """Table `table` of the corpus at root (those columns, every part checked as read_table
        does) as `name` (quoted), with each row's position in it."""
        import duckdb

        schema = pa.schema([*(TABLES[table].field(c) for c in columns), pa.field("position", pa.int64())])
        failed: list[Exception] = []

        def numbered():
            at = 0
            try:
                for batch in read_batches(root, table, columns, _BATCH):
                    yield pa.RecordBatch.from_arrays([*batch.columns, pa.array(np.arange(at, at + batch.num_rows))],
                                                     schema=schema)
                    at += batch.num_rows
            except Exception as e:
                failed.append(e)
                raise

        db = self._cursor()
        db.register("incoming", pa.RecordBatchReader.from_batches(schema, numbered()))
        try:
            db.execute(f"CREATE TABLE {name} AS SELECT * FROM incoming")
        except duckdb.Error:
            if failed:  # a table refused while read (a bomb, a damaged part): its own one-line error
                raise failed[0] from None
            raise
        finally:
            db.unregister("incoming")

    def run(self, sql: str, params: list | None = None) -> list[tuple]:
        return self._cursor().execute(sql, params or []).fetchall()

    def frame(self, sql: str, params: list | None = None) -> pd.DataFrame:
        """The rows as pandas, converted from Arrow as the tables' readers convert them."""
        return self._cursor().sql(sql, params=params or []).to_arrow_table().to_pandas()

    def close(self) -> None:
        self._db.close()
        self._folder.cleanup()


@dataclass
class Corpus:
    index: int
    root: Path
    doc: dict  # build.json
    db: Database
    columns: dict[str, list[str]]  # per view, its table's columns
    counts: dict[str, int]  # rows per view's table, and failed input rows ("failed")
    _choices: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def plan_only(self) -> bool:
        return not self.counts["clips"]

    @property
    def mix(self) -> dict | None:
        return self.doc.get("mix")

    def table(self, view: str) -> str:
        return _table(self.index, view)

    def clip(self, key: str) -> pd.Series | None:
        """The clip of that key, looked up among the clips/ rows (never used as a path); None when
        no clip, or several, have it."""
        found = self.db.frame(f"SELECT * EXCLUDE (position) FROM {self.table('clips')} WHERE clip_key = ? LIMIT 2",
                              [key])
        return found.iloc[0] if len(found) == 1 else None

    def choices(self, view: View) -> dict[str, list[tuple[str, int]]]:
        """Per equality column, its values and their counts (the 200 most common); counted once,
        as the tables do not change while they are served."""
        if view.name not in self._choices:
            self._choices[view.name] = {
                c: [(str(v), int(n)) for v, n in self.db.run(
                    f'SELECT "{c}", count(*) AS n FROM {self.table(view.name)} WHERE "{c}" IS NOT NULL '
                    f'GROUP BY 1 ORDER BY n DESC, 1 LIMIT 200')]
                for c in view.choices if c in self.columns[view.name]}
        return self._choices[view.name]

    def query(self, q: Query) -> Page:
        where, params = ["true"], []
        for c, v in q.equal.items():
            where.append(f'"{c}" = ?')
            params.append(v)
        for c, v in q.low.items():
            where.append(f'"{c}" >= ?')
            params.append(v)
        for c, v in q.high.items():
            where.append(f'"{c}" <= ?')
            params.append(v)
        table, condition = self.table(q.view.name), " AND ".join(where)
        total = (self.db.run(f"SELECT count(*) FROM {table} WHERE {condition}", params)[0][0] if params
                 else self.counts[q.view.name])
        pages = max(1, -(-total // q.per_page))
        start = (min(q.page, pages) - 1) * q.per_page
        count = min(q.per_page, total - start)
        # a late page is asked from the other end (a sort's top rows are cheap, its last ones are not)
        backwards = start > total // 2
        offset = total - start - count if backwards else start
        order = self._order(q, backwards)
        frame = self.db.frame(f"SELECT * FROM {table} WHERE {condition} ORDER BY {order} LIMIT ? OFFSET ?",
                              [*params, max(count, 0), offset])
        frame = frame.iloc[::-1] if backwards else frame
        return Page(frame.set_index("position").rename_axis(None), total, pages)

    def _order(self, q: Query, backwards: bool) -> str:
        """ORDER BY of a page: the sort column (missing values last), then the table's order."""
        down = q.descending != backwards
        terms = [f'"{q.sort}" {"DESC" if down else "ASC"} NULLS {"FIRST" if backwards else "LAST"}'] if q.sort else []
        return ", ".join([*terms, f"position {'DESC' if backwards else 'ASC'}"])

    def reject_preview(self, at: int) -> bytes | None:
        """The contact sheet of the reject at that position, if it has one."""
        found = self.db.run(f"SELECT preview FROM {self.table('rejects')} WHERE position = ?", [at])
        return found[0][0] if found else None

    def origins(self) -> list[tuple[str, str, int]]:
        """(source, origin corpus, clips) of a hybrid's clips."""
        return self.db.run(f"SELECT source, origin_corpus, count(*) FROM {self.table('clips')} "
                           "GROUP BY ALL ORDER BY 1, 2")


def _table(index: int, view: str) -> str:
    """The database's name for a table of the corpus shown at `index`, quoted (names of ours, never
    an input's)."""
    return f'"c{index}_{view}"'


def load(index: int, root: str | Path, db: Database) -> Corpus:
    layout = CorpusLayout.at(root)
    if not layout.is_corpus():
        raise InputError(f"{root} is not a vmae corpus folder (no build.json); give the folder `vmae corpus build` "
                         f"or `vmae corpus mix` wrote")
    doc = layout.build_doc()
    if not isinstance(doc.get("mix", {}), dict):
        raise InputError(f"{layout.build_json}: its 'mix' is a JSON {type(doc['mix']).__name__}, not the recipe "
                         "report `vmae corpus mix` writes; the viewer cannot show this folder")

    def t(view: str) -> str:
        return _table(index, view)

    for view, table, columns in (("built", "clips", CLIP_COLUMNS), ("rows", "videos", ROW_COLUMNS),
                                 ("verdicts", "dedup", DEDUP_COLUMNS), ("rejects", "rejects", REJECT_COLUMNS)):
        db.copy(t(view), layout.root, table, columns)
    verdicts = ", ".join(f'd."{c}"' for c in DEDUP_COLUMNS[1:])
    # each clip with its dedup verdict, in the clips' order
    db.run(f"CREATE TABLE {t('clips')} AS SELECT c.*, {verdicts} FROM {t('built')} c "
           f"LEFT JOIN {t('verdicts')} d USING (clip_key) ORDER BY c.position")
    built = db.run(f"SELECT count(*) FROM {t('built')}")[0][0]
    # what dedup dropped, with the source of each (its clip's, or its planned video's)
    source = (f"SELECT clip_key AS k, any_value(source) AS source FROM {t('built')} GROUP BY 1" if built else
              f"SELECT video_id AS k, any_value(source) AS source FROM {t('rows')} GROUP BY 1")
    db.run(f"CREATE TABLE {t('dedup')} AS SELECT d.*, s.source FROM {t('verdicts')} d LEFT JOIN ({source}) s "
           f"ON s.k = d.clip_key WHERE NOT coalesce(d.keep, true) ORDER BY d.position")
    for temporary in ("built", "verdicts"):
        db.run(f"DROP TABLE {t(temporary)}")
    columns = {v: list(db.frame(f"SELECT * FROM {t(v)} LIMIT 0").columns) for v in VIEWS}
    counts = {v: db.run(f"SELECT count(*) FROM {t(v)}")[0][0] for v in VIEWS}
    counts["failed"] = db.run(f"SELECT count(*) FROM {t('rows')} WHERE status = 'failed'")[0][0]
    return Corpus(index, layout.root, doc, db, columns, counts)
