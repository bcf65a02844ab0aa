"""retrieval: the annotation files of the text-to-video retrieval benchmarks in the layout UMT and
VINDLU use, `[{"video": "relative/path.mp4", "caption": "..." or ["...", ...]}, ...]`, over a local
folder of videos: MSR-VTT, DiDeMo, MSVD, ActivityNet, LSMDC. Every caption of an entry is kept
(MSR-VTT lists 20 per video); for paragraph retrieval (DiDeMo, ActivityNet) a list is the
sentences of one paragraph and is joined into one caption, as those benchmarks are scored. The
benchmark and split come from the file name (msrvtt_test1k.json → msrvtt, test) unless given."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from corpus.errors import InputError
from corpus.sources.base import FETCH_LOCAL, Plan, Source, fail, file_in, mark_duplicates, meta_json, plan_row
from corpus.sources.tabular import read_json
from manifests.options import option

BENCHMARKS = {"msrvtt": r"msr.?vtt", "didemo": r"didemo", "msvd": r"msvd", "activitynet": r"anet|activitynet",
              "lsmdc": r"lsmdc"}
PARAGRAPH = ("didemo", "activitynet")  # scored on whole paragraphs, not single sentences
SPLITS = (("train", r"train"), ("val", r"val"), ("test", r"test"))
MAX_FILE_BYTES = 256 * 1024**2  # the largest public one (MSR-VTT train, 20 captions each) is ~10 MB


@dataclass(frozen=True)
class RetrievalOptions:
    videos: str | None = option(None, "Folder the \"video\" paths are relative to (default: the annotation "
                                      "file's folder).", output=True)
    benchmark: str | None = option(None, "The benchmark (default: from the file name).", output=True)
    split: str | None = option(None, "The rows' split (default: from the file name: train, val, test).",
                               output=True)
    paragraph: bool | None = option(None, "Join a caption list into one paragraph (default: for DiDeMo and "
                                          "ActivityNet).", output=True)


def from_name(name: str, table) -> str | None:
    return next((key for key, pattern in table if re.search(pattern, name, re.IGNORECASE)), None)


def read_entries(path: Path) -> list:
    entries = read_json(path, MAX_FILE_BYTES)
    if not isinstance(entries, list):
        raise InputError(f'{path}: expected a JSON list of {{"video": ..., "caption": ...}} objects, '
                         f"found a {type(entries).__name__}")
    return entries


class RetrievalSource(Source):
    name = "retrieval"
    fetcher = FETCH_LOCAL
    Options = RetrievalOptions

    def _row(self, path: Path, n: int, entry, folder: Path, benchmark: str | None, split: str | None,
             paragraph: bool) -> dict:
        where = f"{path}[{n}]"
        video = entry.get("video") if isinstance(entry, dict) else None
        video = video.strip() if isinstance(video, str) else ""
        captions = _captions(entry.get("caption")) if isinstance(entry, dict) else None
        if paragraph and captions and len(captions) > 1:
            captions = [" ".join(captions)]
        file, problem = file_in(folder, video, "videos") if video else (None, None)
        named = video and problem is None
        row = plan_row(self.name, str(Path(video).with_suffix("")) if named else f"entry{n}", split=split,
                       captions=captions, meta=meta_json({"input": str(path), "entry": n, "benchmark": benchmark}))
        if not isinstance(entry, dict):
            return fail(row, "bad_row", f"{where}: an entry must be an object, found {type(entry).__name__}")
        if not video:
            return fail(row, "bad_row", f'{where}: no "video" path')
        if captions is None:
            return fail(row, "bad_row", f'{where}: "caption" must be text or a list of texts')
        if problem:
            return fail(row, "bad_row", f"{where}: {problem}")
        row["path"] = str(file)
        return row

    def plan(self) -> Plan:
        rows: list[dict] = []
        report: dict = {"files": {}}
        for name in self.options.inputs:
            path = Path(name)
            folder = Path(self.opts.videos) if self.opts.videos else path.parent
            benchmark = self.opts.benchmark or from_name(path.name, BENCHMARKS.items())
            split = self.opts.split or from_name(path.stem, SPLITS)
            paragraph = self.opts.paragraph if self.opts.paragraph is not None else benchmark in PARAGRAPH
            entries = read_entries(path)
            report["files"][name] = {"benchmark": benchmark, "split": split, "entries": len(entries),
                                     "paragraph": paragraph}
            rows += [self._row(path, n, e, folder, benchmark, split, paragraph) for n, e in enumerate(entries)]
        return Plan(list(mark_duplicates(rows)), report=report)


def _captions(value) -> list[str] | None:
    """Every caption of an entry, in order; None when the value is neither text nor texts."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(c, str) for c in items):
        return None
    kept = [c.strip() for c in items if c.strip()]
    return kept or None
