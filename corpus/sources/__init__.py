"""Source registry: a new source is one file plus one line here."""

from __future__ import annotations

from corpus.sources.base import Plan, Source
from corpus.sources.images import ImagesSource
from corpus.sources.instagram import InstagramSource
from corpus.sources.internvid import InternVidSource
from corpus.sources.kinetics import KineticsSource
from corpus.sources.movies import MoviesSource
from corpus.sources.panda70m import Panda70mSource
from corpus.sources.retrieval import RetrievalSource
from corpus.sources.ssv2 import SSv2Source
from corpus.sources.web import WebSource
from corpus.sources.youtube import YouTubeSource

SOURCES: dict[str, type[Source]] = {
    s.name: s for s in (KineticsSource, WebSource, YouTubeSource, InstagramSource, MoviesSource, SSv2Source,
                        Panda70mSource, InternVidSource, RetrievalSource, ImagesSource)
}


def get_source(name: str) -> type[Source]:
    if name not in SOURCES:
        raise KeyError(f"unknown source '{name}'; choose one of {sorted(SOURCES)}")
    return SOURCES[name]


__all__ = ["Plan", "Source", "SOURCES", "get_source"]
