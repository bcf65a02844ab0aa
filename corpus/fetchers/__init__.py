"""Getting a task's file onto local disk: over HTTP, through yt-dlp, or where it already lies.
A source names its fetcher, each task carries it (a local path always fetches locally), and the
fetch step looks it up here; a new fetcher is one function and one line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from corpus.errors import StepError
from corpus.fetchers import http, ytdlp
from corpus.fetchers.base import Fetched, FetchRequest, file_sha256, with_retries
from corpus.options import FetchStepOptions

OnTry = Callable[[], None]


def fetch_local(req: FetchRequest, options: FetchStepOptions, on_try: OnTry) -> Fetched:
    path = Path(req.path)
    if not path.is_file():
        raise StepError("not_found", f"local file {path} does not exist")
    return Fetched(path, path.stat().st_size, file_sha256(path), downloaded=False)


def fetch_http(req: FetchRequest, options: FetchStepOptions, on_try: OnTry) -> Fetched:
    f = options.fetch
    path, size, sha = with_retries(lambda: http.download(req.url, req.workdir / req.stem, f), f.retries,
                                   f.backoff_s, on_try)
    return Fetched(path, size, sha, downloaded=True)


def fetch_ytdlp(req: FetchRequest, options: FetchStepOptions, on_try: OnTry) -> Fetched:
    f = options.fetch
    path = with_retries(lambda: ytdlp.download(req.url, req.workdir, req.stem, f, keep_audio=options.keep_audio,
                                               section=req.section, warnings=req.warnings),
                        f.retries, f.backoff_s, on_try)
    return Fetched(path, path.stat().st_size, file_sha256(path), downloaded=True,
                   offset_s=req.section[0] if req.section else None)


FETCHERS: dict[str, Callable[[FetchRequest, FetchStepOptions, OnTry], Fetched]] = {
    "local": fetch_local,
    "http": fetch_http,
    "ytdlp": fetch_ytdlp,
}

__all__ = ["FETCHERS", "FetchRequest", "Fetched"]
