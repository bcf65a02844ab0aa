"""instagram: a file of post and reel URLs, fetched through yt-dlp with a cookies file."""

from __future__ import annotations

import hashlib
import re

from corpus.sources.base import FETCH_YTDLP, Plan, Source, fail, mark_duplicates, meta_json, plan_row
from corpus.sources.youtube import read_lines

_SHORTCODE = re.compile(r"instagram\.com/(?:[^/]+/)?(?:p|reel|reels|tv)/([A-Za-z0-9_-]+)")


def post_id(url: str) -> str:
    m = _SHORTCODE.search(url)
    return m.group(1) if m else "u" + hashlib.sha1(url.encode()).hexdigest()[:16]


class InstagramSource(Source):
    name = "instagram"
    fetcher = FETCH_YTDLP

    def plan(self) -> Plan:
        rows = []
        for path in self.options.inputs:
            for line, url in read_lines(path):
                row = plan_row(self.name, post_id(url), url=url, meta=meta_json({"input": path, "line": line}))
                if not re.match(r"^https?://", url, re.IGNORECASE):
                    fail(row, "unsupported_scheme", f"{path}:{line}: '{url}' is not an http(s) URL")
                rows.append(row)
        return Plan(list(mark_duplicates(rows)))
