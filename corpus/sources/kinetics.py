"""kinetics: the official annotation CSVs (label,youtube_id,time_start,time_end,split[,is_cc];
test CSVs have no label). Videos come through yt-dlp from --url-template, or from a --mirror
folder of already-cut files named {youtube_id}_{start:06d}_{end:06d}.mp4."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from corpus.errors import InputError
from corpus.sources.base import (
    FETCH_YTDLP,
    Plan,
    Source,
    check_range,
    fail,
    is_plain_name,
    mark_duplicates,
    meta_json,
    parse_time,
    plan_row,
)
from corpus.sources.kinetics_merge import (
    count_renames,
    drop_eval_in_train,
    keep_newest_version,
    parse_version_labels,
    version_maps,
)
from corpus.sources.tabular import bad_utf8_columns, cell_text, read_rows
from corpus.sources.youtube import YouTubeIdOptions
from manifests.labels.kinetics import canonical, version_of
from manifests.options import option

REQUIRED = ("youtube_id", "time_start", "time_end")


def mirror_name(youtube_id: str, start: float, end: float) -> str:
    return f"{youtube_id}_{int(start):06d}_{int(end):06d}.mp4"


@dataclass(frozen=True)
class KineticsOptions(YouTubeIdOptions):
    mirror: str | None = option(None, "Folder of {youtube_id}_{start:06d}_{end:06d}.mp4 files (read where they lie).",
                                output=True, flag=True)
    version_labels: tuple[str, ...] = option((), "Class order of a version for its index map, e.g. "
                                                 "400=label_map_k400.txt; repeat.", output=True, flag=True)


class KineticsSource(Source):
    name = "kinetics"
    fetcher = FETCH_YTDLP
    Options = KineticsOptions

    def _row(self, path: str, line: int, v: dict) -> dict:
        yid = cell_text(v.get("youtube_id"))
        start, end = parse_time(v.get("time_start")), parse_time(v.get("time_end"))
        label = cell_text(v.get("label")) or None
        split = cell_text(v.get("split")) or None
        extra = {k: v[k] for k in v if k not in (*REQUIRED, "label", "split")}
        row = plan_row(self.name, yid or f"line{line}", start_s=start, end_s=end, label=label, split=split,
                       meta=meta_json({"input": path, "line": line, **extra}))
        if bad_utf8_columns(v):
            return fail(row, "bad_row", f"{path}:{line}: text that is not valid UTF-8")
        if not yid:
            return fail(row, "bad_row", f"{path}:{line}: empty youtube_id")
        if start is None or end is None:
            return fail(row, "bad_row", f"{path}:{line}: time_start/time_end must be numbers, got "
                        f"{v.get('time_start')!r}, {v.get('time_end')!r}")
        check_range(row)
        if row["status"] != "pending":
            row["error"] = f"{path}:{line}: {row['error']}"
            return row
        if self.opts.mirror:
            if not is_plain_name(yid):
                return fail(row, "bad_row", f"{path}:{line}: youtube_id {yid!r} is not a plain name; with --mirror it "
                            "names a file of the mirror folder, so path separators and '..' are refused")
            # Mirror files are already cut to the annotated range: they start at time_start.
            row.update(path=str(Path(self.opts.mirror) / mirror_name(yid, start, end)), offset_s=start)
        else:
            row["url"] = self.opts.url_template.format(youtube_id=yid)
        return row

    def plan(self) -> Plan:
        rows: list[dict] = []
        originals: list[str | None] = []
        rank: dict[int, int] = {}  # row index → newness of its file (version, then input order)
        version: dict[int, int | None] = {}
        files: dict[int, str] = {}
        report: dict = {"files": {}}
        for n, path in enumerate(self.options.inputs):
            columns, records = read_rows(path)
            missing = [c for c in REQUIRED if c not in columns]
            if missing:
                raise InputError(
                    f"{path}: missing column(s) {missing}; a Kinetics annotation CSV has "
                    "label,youtube_id,time_start,time_end,split (test CSVs have no label)"
                )
            v = version_of(path)
            report["files"][path] = {"version": f"k{v}" if v else "unknown", "rows": 0}
            for rec in records:
                if rec.values is None:
                    row = fail(plan_row(self.name, f"line{rec.line}"), "bad_row", f"{path}:{rec.line}: {rec.error}")
                else:
                    row = self._row(path, rec.line, rec.values)
                originals.append(row["label"])
                if row["label"] is not None:
                    row["label"] = canonical(row["label"])
                rank[len(rows)], version[len(rows)], files[len(rows)] = (v or 0, n), v, path
                rows.append(row)
                report["files"][path]["rows"] += 1
        count_renames(originals, rows, report)
        drop_eval_in_train(rows, report)
        keep_newest_version(rows, rank, files, report)
        self._versions = version
        return Plan(list(mark_duplicates(rows)), report=report)

    def extra_files(self, rows: list[dict], labels: list[str] | None) -> dict[str, bytes]:
        if not labels:
            return {}
        try:
            given = parse_version_labels(self.opts.version_labels)
        except ValueError as e:
            raise InputError(str(e)) from e
        return version_maps(rows, self._versions, labels, given)
