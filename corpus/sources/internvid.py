"""internvid: InternVid's JSONL (or CSV), one clip per line: a YouTube id, start and end
timestamps (`00:00:13.880`) and a caption; the other columns (UMT_Score, Aesthetic_Score, ...) are
carried in meta. Lines of one video are fetched once, through yt-dlp, from --url-template."""

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
from corpus.sources.timestamps import parse_timestamp
from corpus.sources.youtube import YouTubeIdOptions

COLUMNS = {"id": ("YoutubeID", "youtube_id", "videoID", "video_id"),
           "start": ("Start_timestamp", "start_timestamp", "start", "start_s"),
           "end": ("End_timestamp", "end_timestamp", "end", "end_s"),
           "caption": ("Caption", "caption", "text")}


class InternVidSource(Source):
    name = "internvid"
    fetcher = FETCH_YTDLP
    Options = YouTubeIdOptions

    def _row(self, path: str, line: int, values: dict, cols: dict) -> dict:
        vid = cell_text(values.get(cols["id"]))
        start, end = parse_timestamp(values.get(cols["start"])), parse_timestamp(values.get(cols["end"]))
        caption = values.get(cols["caption"])
        extra = {k: v for k, v in values.items() if k not in cols.values()}
        row = plan_row(self.name, vid or f"line{line}", start_s=start, end_s=end,
                       caption=caption.strip() or None if isinstance(caption, str) else None,
                       meta=meta_json({"input": path, "line": line, **extra}))
        if bad_utf8_columns(values):
            return fail(row, "bad_row", f"{path}:{line}: text that is not valid UTF-8")
        if not vid:
            return fail(row, "bad_row", f"{path}:{line}: empty {cols['id']}")
        if caption is not None and not isinstance(caption, str):
            return fail(row, "bad_row", f"{path}:{line}: the caption is a {type(caption).__name__}, not text")
        if start is None or end is None:
            return fail(row, "bad_row", f"{path}:{line}: {cols['start']}/{cols['end']} are not timestamps: "
                        f"{values.get(cols['start'])!r:.40}, {values.get(cols['end'])!r:.40}")
        if check_range(row)["status"] != "pending":
            row["error"] = f"{path}:{line}: {row['error']}"
            return row
        row["url"] = self.opts.url_template.format(youtube_id=vid)
        return row

    def plan(self) -> Plan:
        layout = "InternVid's lines have YoutubeID, Start_timestamp, End_timestamp, Caption"
        return Plan(list(mark_duplicates(self.rows_of_lines(
            COLUMNS, tuple(COLUMNS), layout, lambda *line: [self._row(*line)]))))
