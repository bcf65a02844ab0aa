"""caption: keep out input rows whose caption is too short to teach a text tower anything (an
empty name, "video", a file name), before anything is downloaded."""

from __future__ import annotations

from dataclasses import dataclass

from corpus.steps.filters.base import Filter, Verdict
from manifests.options import option


@dataclass(frozen=True)
class CaptionOptions:
    min_words: int = option(3, "Rows whose caption has fewer words are kept out as short_caption.", output=True)


class Caption(Filter):
    name, on, Options = "caption", "rows", CaptionOptions

    def check(self, row: dict) -> Verdict:
        words = len((row.get("caption") or "").split())
        if words >= self.options.min_words:
            return None
        return "short_caption", f"{words} words, fewer than min_words={self.options.min_words}"
