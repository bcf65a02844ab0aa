"""youtube: a file of video, playlist or channel URLs or bare video ids, through yt-dlp.
Playlists and channels are expanded flat at plan time into one row per video."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from corpus.errors import InputError, StepError
from corpus.fetchers import YtdlpFetcher
from corpus.fetchers.ytdlp import expand
from corpus.sources.base import FETCH_YTDLP, Plan, Source, fail, mark_duplicates, meta_json, plan_row
from manifests.options import option

_VIDEO_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
# URLs that name one YouTube video need no expansion (a 'list=' parameter means a playlist).
_SINGLE_VIDEO = re.compile(r"youtube\.com/(watch\?v=|shorts/)|youtu\.be/")


def read_lines(path: str) -> list[tuple[int, str]]:
    """Non-empty, non-comment lines with their line numbers."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{path}: input file not found")
    text = p.read_bytes().decode("utf-8", "replace")
    return [(i, s.strip()) for i, s in enumerate(text.splitlines(), start=1)
            if s.strip() and not s.strip().startswith("#")]


WATCH_URL = "https://www.youtube.com/watch?v={youtube_id}"


@dataclass(frozen=True)
class YouTubeIdOptions:
    """The options of a source whose rows name YouTube videos by id."""

    url_template: str = option(WATCH_URL, "A video's URL, with {youtube_id} (default: YouTube's watch URL).",
                               output=True, flag=True)


class YouTubeSource(Source):
    name = "youtube"
    fetcher = FETCH_YTDLP
    splits_shots = True

    def _rows_for(self, path: str, line: int, item: str) -> list[dict]:
        meta = {"input": path, "line": line}
        if _VIDEO_ID.match(item):
            return [plan_row(self.name, item, url=f"https://www.youtube.com/watch?v={item}",
                             meta=meta_json(meta))]
        if not re.match(r"^https?://", item, re.IGNORECASE):
            return [fail(plan_row(self.name, f"line{line}", url=item, meta=meta_json(meta)), "bad_row",
                         f"{path}:{line}: '{item}' is neither an 11-character video id nor an http(s) URL")]
        if _SINGLE_VIDEO.search(item) and "list=" not in item:
            m = re.search(r"(?:v=|shorts/|youtu\.be/)([A-Za-z0-9_-]{11})", item)
            vid = m.group(1) if m else item
            return [plan_row(self.name, vid, url=item, meta=meta_json(meta))]
        try:
            entries = expand(item, self.options.of(YtdlpFetcher), self.options.download, self.warnings)
        except StepError as e:
            return [fail(plan_row(self.name, f"line{line}", url=item, meta=meta_json(meta)), e.kind,
                         f"{path}:{line}: could not expand {item}: {e.message}")]
        return [plan_row(self.name, e["id"] or f"line{line}-{k}", url=e["url"], caption=e.get("title"),
                         meta=meta_json({**meta, "from": item, "playlist": e.get("playlist")}))
                for k, e in enumerate(entries)]

    def plan(self) -> Plan:
        self.warnings: list[str] = []  # yt-dlp's, while expanding playlists
        rows = []
        for path in self.options.inputs:
            for line, item in read_lines(path):
                rows.extend(self._rows_for(path, line, item))
        return Plan(list(mark_duplicates(rows)), report={"tool_warnings": self.warnings} if self.warnings else {})
