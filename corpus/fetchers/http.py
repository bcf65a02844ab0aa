"""Streaming HTTP(S) download with timeouts, a size cap and classified errors."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import requests
import urllib3

from corpus.errors import StepError
from corpus.options import DownloadOptions

CHUNK = 1 << 20
_EXT_BY_TYPE = {"video/mp4": ".mp4", "video/webm": ".webm", "video/quicktime": ".mov",
                "video/x-matroska": ".mkv"}


def _status_error(code: int, url: str) -> StepError:
    if code in (404, 410):
        return StepError("not_found", f"HTTP {code}: {url} does not exist")
    if code in (401, 403):
        return StepError("private", f"HTTP {code}: access to {url} is forbidden")
    if code == 429:
        return StepError("rate_limited", f"HTTP 429: the server at {url} asks us to slow down")
    if code >= 500:
        return StepError("http_5xx", f"HTTP {code}: server error for {url}")
    return StepError("http_4xx", f"HTTP {code} for {url}")


def _suffix(url: str, content_type: str) -> str:
    ext = Path(url.split("?")[0]).suffix.lower()
    if ext in (".mp4", ".webm", ".mov", ".mkv", ".avi", ".m4v"):
        return ext
    return _EXT_BY_TYPE.get(content_type.split(";")[0].strip(), ".mp4")


def declared_length(headers) -> int | None:
    """Content-Length when it is one number (repeated copies agree); None when absent or not a
    number, as urllib3 reads it: a garbled header is no reason to fail the row."""
    try:
        lengths = {int(v) for v in (headers.get("Content-Length") or "").split(",") if v.strip()}
    except ValueError:
        return None
    return lengths.pop() if len(lengths) == 1 and min(lengths) >= 0 else None


def download(url: str, dest_stem: Path, opts: DownloadOptions) -> tuple[Path, int, str]:
    """Stream `url` to dest_stem + extension. Returns (path, bytes, sha256). The bytes are stored as
    they arrive (identity encoding is asked for; nothing is decompressed), at most max_bytes of
    them, and once timeout_s has passed they must keep arriving at min_rate on average, so a
    server trickling a byte a second is cut off instead of holding the worker forever."""
    try:
        with requests.get(url, stream=True, timeout=(opts.timeout_s, opts.timeout_s),
                          headers={"User-Agent": "vmae", "Accept-Encoding": "identity"}) as r:
            if r.status_code >= 400:
                raise _status_error(r.status_code, url)
            declared = declared_length(r.headers)
            if declared is not None and declared > opts.max_bytes:
                raise StepError("too_large", f"{url} is {declared} bytes, over the cap of {opts.max_bytes}")
            path = dest_stem.with_suffix(_suffix(url, r.headers.get("Content-Type", "")))
            size, digest = _stream_to(r.raw, path, url, opts)
            if declared and size < declared:
                raise StepError("truncated", f"{url}: got {size} of {declared} bytes")
            return path, size, digest
    except StepError:
        raise
    except (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError) as e:
        raise StepError("timeout", f"{url}: no data for {opts.timeout_s:g} s ({type(e).__name__})") from e
    except (requests.exceptions.ChunkedEncodingError, urllib3.exceptions.ProtocolError) as e:
        raise StepError("truncated", f"{url}: the connection closed before the whole file came ({e})") from e
    except requests.exceptions.ConnectionError as e:
        if "timed out" in str(e).lower():
            raise StepError("timeout", f"{url}: no data for {opts.timeout_s:g} s") from e
        raise StepError("network", f"{url}: {e}") from e
    except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError) as e:
        raise StepError("bad_url", f"{url}: {e}") from e


def _stream_to(raw, path: Path, url: str, opts: DownloadOptions) -> tuple[int, str]:
    """Copy the body to `path` as it arrives: read1 returns after each read of the socket (each
    bounded by the read timeout), so the size cap and the rate floor are checked at least that
    often however slowly the bytes come."""
    digest, size, start = hashlib.sha256(), 0, time.monotonic()
    with open(path, "wb") as f:
        while chunk := raw.read1(CHUNK, decode_content=False):
            size += len(chunk)
            if size > opts.max_bytes:
                raise StepError("too_large", f"{url} exceeded the cap of {opts.max_bytes} bytes")
            digest.update(chunk)
            f.write(chunk)
            elapsed = time.monotonic() - start
            if elapsed > opts.timeout_s and size < opts.min_rate * elapsed:
                raise StepError("timeout", f"{url}: {size} bytes in {elapsed:.0f} s, below the floor of "
                                f"{opts.min_rate:g} bytes/s (--min-rate)")
    return size, digest.hexdigest()
