"""Getting a task's file onto local disk: over HTTP, through yt-dlp, or where it already lies.
A source names its fetcher, each task carries it (a local path always fetches locally), and the
fetch step uses the one named; a new fetcher is one class (with its Options) and one line."""

from __future__ import annotations

from pathlib import Path

from corpus.errors import StepError
from corpus.fetchers import http, ytdlp
from corpus.fetchers.base import Fetched, Fetcher, FetchRequest, OnTry, file_sha256, with_retries


class LocalFetcher(Fetcher):
    name = "local"

    def fetch(self, req: FetchRequest, on_try: OnTry) -> Fetched:
        path = Path(req.path)
        if not path.is_file():
            raise StepError("not_found", f"local file {path} does not exist")
        return Fetched(path, path.stat().st_size, file_sha256(path), downloaded=False)


class HttpFetcher(Fetcher):
    name = "http"

    def fetch(self, req: FetchRequest, on_try: OnTry) -> Fetched:
        d = self.download
        path, size, sha = with_retries(lambda: http.download(req.url, req.workdir / req.stem, d), d.retries,
                                       d.backoff_s, on_try)
        return Fetched(path, size, sha, downloaded=True)


class YtdlpFetcher(Fetcher):
    """yt-dlp; with --download-sections, only the annotated range the request names."""

    name = "ytdlp"
    Options = ytdlp.YtdlpOptions
    reads = ("download", "media")  # media: yt-dlp asks for a format with audio under --keep-audio

    def fetch(self, req: FetchRequest, on_try: OnTry) -> Fetched:
        d = self.download
        section = req.section if self.options.download_sections else None
        path = with_retries(lambda: ytdlp.download(req.url, req.workdir, req.stem, self.options, d,
                                                   keep_audio=self.media.keep_audio, section=section,
                                                   warnings=req.warnings),
                            d.retries, d.backoff_s, on_try)
        return Fetched(path, path.stat().st_size, file_sha256(path), downloaded=True,
                       offset_s=section[0] if section else None)


FETCHERS: dict[str, type[Fetcher]] = {f.name: f for f in (LocalFetcher, HttpFetcher, YtdlpFetcher)}

__all__ = ["FETCHERS", "FetchRequest", "Fetched", "Fetcher"]
