"""yt-dlp behind one small interface: its options (YtdlpOptions, with the download section every
fetcher obeys), error classification, flat playlist expansion and single-video download."""

from __future__ import annotations

import contextlib
import re
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from corpus.errors import InputError, MachineFault, StepError, fault_in_message
from corpus.fetchers.jsruntime import js_runtimes
from corpus.options import FETCH, DownloadOptions
from manifests.options import option

# yt_dlp is imported inside the functions: it is slow to import (~0.15 s), and worker processes
# of the web and movies sources never need it.

# At most 360p is plenty for clips whose short side is 320; audio only when asked for.
FORMAT_VIDEO_ONLY = "bv*[height<=360]/b[height<=360]/wv*/w"
FORMAT_WITH_AUDIO = "bv*[height<=360]+ba/b[height<=360]/wv*+ba/w"


@dataclass(frozen=True)
class YtdlpOptions:
    """What yt-dlp is asked for and how it reaches the site (the download section's caps apply too)."""

    format: str | None = option(None, "yt-dlp format (default: best ≤360p, with audio only under --keep-audio).",
                                output=True, panel=FETCH)
    download_sections: bool = option(False, "yt-dlp: fetch only the annotated time range.", output=True,
                                     panel=FETCH)
    cookies: str | None = option(None, "Cookies file for yt-dlp (Instagram needs one).", output=False, panel=FETCH)
    proxy: str | None = option(None, "Proxy URL for yt-dlp.", output=False, panel=FETCH)
    sleep_interval_s: float = option(0.0, "yt-dlp: seconds to sleep before each download.", output=False,
                                     flag="--sleep-interval", panel=FETCH)
    rate_limit: str | None = option(None, "yt-dlp: max download rate, e.g. 4M.", output=False, panel=FETCH)
    sleep_requests_s: float = option(0.0, "yt-dlp: seconds between the requests of one video's extraction (pace "
                                          "one site).", output=False, flag="--sleep-requests", panel=FETCH)
    cookies_from_browser: str | None = option(None, "yt-dlp: cookies of a signed-in browser, "
                                                    "BROWSER[+KEYRING][:PROFILE] (e.g. firefox).", output=False,
                                              panel=FETCH)
    extractor_args: tuple[str, ...] = option((), "yt-dlp: extractor arguments as on yt-dlp's command line, e.g. "
                                                 "'youtube:player_client=web' (player clients, PO-token providers); "
                                                 "repeat.", output=False, panel=FETCH)

# (pattern in yt-dlp's message, error_kind); first match wins. Order matters: a 429 page
# also says "unable to download".
_CLASSES = [
    (r"HTTP Error 429|Too Many Requests|confirm you.re not a bot|rate.?limit", "rate_limited"),
    (r"HTTP Error 40[13]|Private video|private|login required|members-only|Sign in to confirm your age", "private"),
    (r"HTTP Error 404|Video unavailable|has been removed|does not exist|not available|terminated",
     "not_found"),
    (r"HTTP Error 5\d\d", "http_5xx"),
    (r"HTTP Error 4\d\d", "http_4xx"),
    (r"timed out|Read timed out|TimeoutError", "timeout"),
    (r"Unsupported URL", "unsupported"),
    (r"File is larger than max-filesize|max.?filesize", "too_large"),
    (r"Connection refused|Connection reset|Name or service not known|Temporary failure|"
     r"Network is unreachable|IncompleteRead|bytes read", "network"),
]


def classify(message: str) -> str:
    for pattern, kind in _CLASSES:
        if re.search(pattern, message, re.IGNORECASE):
            return kind
    return "download_error"


def _clean(message: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", message).removeprefix("ERROR: ").strip()


class Warnings:
    """yt-dlp's logger: errors go to the manifest (yt-dlp prints them even when quiet), and each
    distinct warning is kept, because that is where yt-dlp says what is wrong with the set-up
    ("No supported JavaScript runtime could be found", "n challenge solving failed", ...)."""

    def __init__(self, into: list[str] | None = None):
        self.seen: list[str] = into if into is not None else []

    def warning(self, msg: str) -> None:
        text = _clean(msg).removeprefix("WARNING: ").strip()
        if text and text not in self.seen:
            self.seen.append(text)

    def debug(self, msg: str) -> None:
        pass

    info = error = debug


def ydl_options(opts: YtdlpOptions, download: DownloadOptions, *, keep_audio: bool = False,
                warnings: list[str] | None = None) -> dict:
    import yt_dlp

    o = {
        "logger": Warnings(warnings),
        "quiet": True,
        "js_runtimes": js_runtimes(),
        "noprogress": True,
        "noplaylist": True,
        "format": opts.format or (FORMAT_WITH_AUDIO if keep_audio else FORMAT_VIDEO_ONLY),
        "socket_timeout": download.timeout_s,
        # vmae retries itself (with backoff, transient errors only); yt-dlp's own retries
        # would multiply that and hide the classification.
        "retries": 0,
        "fragment_retries": 1,
        "max_filesize": download.max_bytes,
    }
    if opts.cookies:
        o["cookiefile"] = opts.cookies
    if opts.proxy:
        o["proxy"] = opts.proxy
    if opts.sleep_interval_s:
        o["sleep_interval"] = opts.sleep_interval_s
    if opts.rate_limit:
        o["ratelimit"] = yt_dlp.parse_options(["--limit-rate", opts.rate_limit]).ydl_opts["ratelimit"]
    if opts.sleep_requests_s:
        o["sleep_interval_requests"] = opts.sleep_requests_s
    return o | _parsed_passthrough(opts)


def _parsed_passthrough(opts: YtdlpOptions) -> dict:
    """--cookies-from-browser and --extractor-args, read by yt-dlp's own parser so that they mean
    exactly what they mean on yt-dlp's command line (PO-token providers, player clients, ...)."""
    import yt_dlp

    argv = [a for arg in opts.extractor_args for a in ("--extractor-args", arg)]
    if opts.cookies_from_browser:
        argv += ["--cookies-from-browser", opts.cookies_from_browser]
    if not argv:
        return {}
    try:
        parsed = yt_dlp.parse_options(argv).ydl_opts
    except (SystemExit, ValueError) as e:  # yt-dlp's parser exits on a bad value
        raise InputError(f"yt-dlp refused {' '.join(argv)}: {e}") from None
    return {k: parsed[k] for k in ("extractor_args", "cookiesfrombrowser") if parsed.get(k)}


def _extract(url: str, options: dict, download: bool) -> dict:
    """yt-dlp's extract_info, its errors turned into classified StepErrors."""
    import yt_dlp

    try:
        with yt_dlp.YoutubeDL(options) as ydl:
            return ydl.extract_info(url, download=download)
    except yt_dlp.utils.DownloadError as e:
        msg = _clean(str(e))
        home = options.get("paths", {}).get("home")
        fault = fault_in_message(msg, home)
        if fault is None and home and not Path(home).is_dir():
            fault = MachineFault("the folder being written vanished", home)
        if fault is not None:  # e.g. "unable to write data: No space left on device"
            raise fault from e
        raise StepError(classify(msg), msg) from e


def expand(url: str, opts: YtdlpOptions, download: DownloadOptions, warnings: list[str] | None = None
           ) -> list[dict]:
    """The videos behind a URL: one entry for a video, one per item for a playlist or channel
    (flat: nothing is downloaded). Each entry has 'id', 'url' and 'title' when known."""
    flat = {"extract_flat": "in_playlist", "noplaylist": False, "skip_download": True}
    o = ydl_options(opts, download, warnings=warnings) | flat
    info = _extract(url, o, download=False)
    if info.get("_type") in ("playlist", "multi_video"):
        entries = [e for e in info.get("entries") or [] if e]
        return [{"id": _entry_id(e), "url": e.get("url") or e.get("webpage_url"), "title": e.get("title"),
                 "playlist": info.get("id")} for e in entries]
    return [{"id": info.get("id"), "url": info.get("webpage_url") or url, "title": info.get("title")}]


def _entry_id(entry: dict) -> str | None:
    """A flat entry's id; feeds (RSS) carry it smuggled in the URL rather than in 'id'."""
    import yt_dlp

    if entry.get("id"):
        return entry["id"]
    _, data = yt_dlp.utils.unsmuggle_url(entry.get("url") or "", {})
    return data.get("force_videoid")


class RateFloor:
    """The HTTP fetcher's rate floor for yt-dlp: once timeout_s has passed since the download began,
    it must average min_rate bytes/s, and extraction (pages, formats) may take EXTRACTION times
    timeout_s before it. yt-dlp reads in blocks that a trickling server never fills (a byte a second
    never trips the per-read timeout), so a timer checks the bytes its progress hooks reported, and
    interrupts the read when they fall behind. The timer is SIGALRM: it runs where the fetch runs in
    a process' main thread (every executor's workers, and a one-worker build), and is skipped
    elsewhere."""

    EXTRACTION = 4

    def __init__(self, url: str, opts: DownloadOptions):
        self.url, self.opts, self.bytes = url, opts, 0
        self.start, self.began = time.monotonic(), None

    def hook(self, progress: dict) -> None:
        self.began = self.began or time.monotonic()
        self.bytes = progress.get("downloaded_bytes") or self.bytes

    def _check(self, *_) -> None:
        now = time.monotonic()
        if self.began is None:
            if now - self.start > self.EXTRACTION * self.opts.timeout_s:
                raise StepError("timeout", f"{self.url}: no video data after {now - self.start:.0f} s")
            return
        elapsed = now - self.began
        if elapsed > self.opts.timeout_s and self.bytes < self.opts.min_rate * elapsed:
            raise StepError("timeout", f"{self.url}: {self.bytes} bytes in {elapsed:.0f} s, below the floor of "
                            f"{self.opts.min_rate:g} bytes/s (--min-rate)")

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.signal(signal.SIGALRM, self._check)
        signal.setitimer(signal.ITIMER_REAL, self.opts.timeout_s, self.opts.timeout_s)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


def download(url: str, folder: Path, name: str, opts: YtdlpOptions, limits: DownloadOptions, *,
             keep_audio: bool = False, section: tuple[float, float] | None = None,
             warnings: list[str] | None = None) -> Path:
    """Download one video into folder/name.<ext>; returns the file path. yt-dlp's warnings are
    added to `warnings` (each once)."""
    from yt_dlp.utils import download_range_func

    floor = RateFloor(url, limits)
    o = ydl_options(opts, limits, keep_audio=keep_audio, warnings=warnings) | {"outtmpl": f"{name}.%(ext)s",
                                                     "paths": {"home": str(folder)},
                                                     "progress_hooks": [floor.hook]}
    if section is not None:
        o["download_ranges"] = download_range_func([], [section])
        o["force_keyframes_at_cuts"] = False
    with floor.watching():
        info = _extract(url, o, download=True)
    downloads = info.get("requested_downloads") or []
    path = Path(downloads[0]["filepath"]) if downloads and downloads[0].get("filepath") else None
    if path is None or not path.is_file():
        raise StepError("download_error", f"yt-dlp reported no file for {url}")
    return path
