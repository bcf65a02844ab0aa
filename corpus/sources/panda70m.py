"""panda70m: Panda-70M's CSV, one row per YouTube video with a list of spans (`timestamp`) and
a list of captions (`caption`), one per span; each span becomes a clip with its caption. The
video is fetched once (through yt-dlp, from the row's `url` or --url-template) and cut per span."""

from __future__ import annotations

from corpus.sources.base import (
    FETCH_YTDLP,
    Plan,
    Source,
    check_range,
    fail,
    mark_duplicates,
    meta_json,
    plan_row,
)
from corpus.sources.tabular import bad_utf8_columns, cell_text
from corpus.sources.timestamps import parse_list, parse_timestamp
from corpus.sources.youtube import YouTubeIdOptions

COLUMNS = {"id": ("videoID", "video_id", "youtube_id"), "spans": ("timestamp", "timestamps"),
           "captions": ("caption", "captions"), "url": ("url",)}


class Panda70mSource(Source):
    name = "panda70m"
    fetcher = FETCH_YTDLP
    Options = YouTubeIdOptions

    def _rows(self, path: str, line: int, values: dict, cols: dict) -> list[dict]:
        vid = cell_text(values.get(cols["id"]))
        url = cell_text(values.get(cols["url"])) if cols["url"] else ""
        meta = {"input": path, "line": line}
        broken = plan_row(self.name, vid or f"line{line}", meta=meta_json(meta))
        if bad_utf8_columns(values):
            return [fail(broken, "bad_row", f"{path}:{line}: text that is not valid UTF-8")]
        if not vid:
            return [fail(broken, "bad_row", f"{path}:{line}: empty {cols['id']}")]
        try:
            spans = parse_list(values.get(cols["spans"]), cols["spans"])
            captions = parse_list(values.get(cols["captions"]), cols["captions"])
        except ValueError as e:
            return [fail(broken, "bad_row", f"{path}:{line}: {e}")]
        if len(spans) != len(captions):
            return [fail(broken, "bad_row", f"{path}:{line}: {len(spans)} spans but {len(captions)} captions")]
        scores = _optional_list(values.get("matching_score"), len(spans))
        rows = []
        for i, (span, caption) in enumerate(zip(spans, captions, strict=True)):
            start, end = _span(span)
            row = plan_row(self.name, vid, url=url or self.opts.url_template.format(youtube_id=vid), start_s=start,
                           end_s=end, caption=cell_text(caption) or None,
                           meta=meta_json({**meta, "span": i, "matching_score": scores[i]}))
            if start is None or end is None:
                fail(row, "bad_row", f"{path}:{line}: span {i} is not [start, end] timestamps: {span!r:.60}")
            elif check_range(row)["status"] != "pending":
                row["error"] = f"{path}:{line}: span {i}: {row['error']}"
            rows.append(row)
        return rows

    def plan(self) -> Plan:
        return Plan(list(mark_duplicates(self.rows_of_lines(
            COLUMNS, ("id", "spans", "captions"), "Panda-70M's CSV has videoID, url, timestamp, caption", self._rows))))


def _span(span) -> tuple[float | None, float | None]:
    if isinstance(span, list | tuple) and len(span) == 2:
        return parse_timestamp(span[0]), parse_timestamp(span[1])
    return None, None


def _optional_list(value, length: int) -> list:
    """A per-span list that may be missing or malformed (it is only carried along)."""
    try:
        items = parse_list(value, "matching_score") if value is not None else []
    except ValueError:
        items = []
    return items if len(items) == length else [None] * length
