"""kinetics: the official annotation CSVs (label,youtube_id,time_start,time_end,split[,is_cc];
test CSVs have no label). Videos come through yt-dlp from --url-template, or from a --mirror
folder of already-cut files named {youtube_id}_{start:06d}_{end:06d}.mp4."""

from __future__ import annotations

from pathlib import Path

from corpus.errors import InputError
from corpus.sources.base import (
    FETCH_YTDLP,
    Plan,
    Source,
    check_range,
    fail,
    mark_duplicates,
    meta_json,
    parse_time,
    plan_row,
)
from corpus.sources.tabular import bad_utf8_columns, read_rows

REQUIRED = ("youtube_id", "time_start", "time_end")


def mirror_name(youtube_id: str, start: float, end: float) -> str:
    return f"{youtube_id}_{int(start):06d}_{int(end):06d}.mp4"


class KineticsSource(Source):
    name = "kinetics"
    fetcher = FETCH_YTDLP

    def _row(self, path: str, line: int, v: dict) -> dict:
        yid = (v.get("youtube_id") or "").strip()
        start, end = parse_time(v.get("time_start")), parse_time(v.get("time_end"))
        label = (v.get("label") or "").strip() or None
        split = (v.get("split") or "").strip() or None
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
        if self.options.mirror:
            # Mirror files are already cut to the annotated range: they start at time_start.
            row.update(path=str(Path(self.options.mirror) / mirror_name(yid, start, end)), offset_s=start)
        else:
            row["url"] = self.options.url_template.format(youtube_id=yid)
        return row

    def plan(self) -> Plan:
        rows = []
        for path in self.options.inputs:
            columns, records = read_rows(path)
            missing = [c for c in REQUIRED if c not in columns]
            if missing:
                raise InputError(
                    f"{path}: missing column(s) {missing}; a Kinetics annotation CSV has "
                    "label,youtube_id,time_start,time_end,split (test CSVs have no label)"
                )
            for rec in records:
                if rec.values is None:
                    rows.append(fail(plan_row(self.name, f"line{rec.line}"), "bad_row",
                                     f"{path}:{rec.line}: {rec.error}"))
                else:
                    rows.append(self._row(path, rec.line, rec.values))
        return Plan(list(mark_duplicates(rows)))
