"""What the viewer knows of one corpus: lean frames of its tables (only the columns it shows),
read once when the viewer starts, then filtered, sorted and paged per request on the server. A
650k-row corpus is a few hundred MB of strings in pandas; the browser only ever gets one page."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from corpus.errors import InputError
from manifests.layout import CorpusLayout
from manifests.tables import read_table

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


@dataclass
class Page:
    frame: pd.DataFrame
    total: int  # rows that match, over all pages
    pages: int


@dataclass
class Corpus:
    index: int
    root: Path
    doc: dict  # build.json
    tables: dict[str, pd.DataFrame]
    _choices: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def plan_only(self) -> bool:
        return self.tables["clips"].empty

    @property
    def mix(self) -> dict | None:
        return self.doc.get("mix")

    def clip(self, key: str) -> pd.Series | None:
        """The clip of that key, looked up among the clips/ rows (never used as a path)."""
        clips = self.tables["clips"]
        at = clips.index.get_indexer([key]) if clips.index.is_unique else np.array([-1])
        return None if at[0] < 0 else clips.iloc[int(at[0])]

    def choices(self, view: View) -> dict[str, list[tuple[str, int]]]:
        """Per equality column, its values and their counts (the 200 most common); counted once,
        as the tables do not change while they are served."""
        if view.name not in self._choices:
            frame = self.tables[view.name]
            self._choices[view.name] = {c: [(str(v), int(n)) for v, n in frame[c].value_counts().head(200).items()]
                                        for c in view.choices if c in frame}
        return self._choices[view.name]

    def query(self, q: Query) -> Page:
        frame = self.tables[q.view.name]
        keep = np.ones(len(frame), bool)
        for c, v in q.equal.items():
            keep &= (frame[c] == v).to_numpy(bool)  # the columns offered are strings (None never equals)
        for c, v in q.low.items():
            keep &= (frame[c] >= v).fillna(False).to_numpy(bool)
        for c, v in q.high.items():
            keep &= (frame[c] <= v).fillna(False).to_numpy(bool)
        hits = frame[keep] if not keep.all() else frame
        if q.sort:
            hits = hits.sort_values(q.sort, ascending=not q.descending, kind="stable", na_position="last")
        pages = max(1, -(-len(hits) // q.per_page))
        start = (min(q.page, pages) - 1) * q.per_page
        return Page(hits.iloc[start : start + q.per_page], len(hits), pages)


def load(index: int, root: str | Path) -> Corpus:
    layout = CorpusLayout.at(root)
    if not layout.is_corpus():
        raise InputError(f"{root} is not a vmae corpus folder (no build.json); give the folder `vmae corpus build` "
                         f"or `vmae corpus mix` wrote")
    def read(name: str, columns: list[str]) -> pd.DataFrame:
        return read_table(layout.root, name, required=False, columns=columns).to_pandas()

    doc = layout.build_doc()
    if not isinstance(doc.get("mix", {}), dict):
        raise InputError(f"{layout.build_json}: its 'mix' is a JSON {type(doc['mix']).__name__}, not the recipe "
                         "report `vmae corpus mix` writes; the viewer cannot show this folder")
    clips = read("clips", CLIP_COLUMNS)
    rows = read("videos", ROW_COLUMNS)
    dedup = read("dedup", DEDUP_COLUMNS)
    rejects = read("rejects", REJECT_COLUMNS)
    if len(clips):  # each clip with its dedup verdict
        clips = clips.merge(dedup, on="clip_key", how="left").set_index("clip_key", drop=False)
    else:
        clips = clips.assign(**{c: pd.Series(dtype=object) for c in DEDUP_COLUMNS[1:]})
        clips = clips.set_index("clip_key", drop=False)
    dropped = dedup[~dedup["keep"].fillna(True).astype(bool)]
    source = clips["source"] if len(clips) else rows.set_index("video_id")["source"]
    dropped = dropped.assign(source=dropped["clip_key"].map(source.to_dict()) if len(dropped) else None)
    return Corpus(index, layout.root, doc,
                  {"clips": clips, "rows": rows, "dedup": dropped, "rejects": rejects})
