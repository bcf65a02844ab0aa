"""Streaming HTTP(S) download with timeouts, a size cap and classified errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import requests
import urllib3

from corpus.errors import StepError
from corpus.options import FetchOptions

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


def download(url: str, dest_stem: Path, opts: FetchOptions) -> tuple[Path, int, str]:
    """Stream `url` to dest_stem + extension. Returns (path, bytes, sha256)."""
    try:
        with requests.get(url, stream=True, timeout=(opts.timeout_s, opts.timeout_s),
                          headers={"User-Agent": "vmae"}) as r:
            if r.status_code >= 400:
                raise _status_error(r.status_code, url)
            declared = int(r.headers.get("Content-Length") or 0)
            if declared > opts.max_bytes:
                raise StepError("too_large", f"{url} is {declared} bytes, over the cap of {opts.max_bytes}")
            path = dest_stem.with_suffix(_suffix(url, r.headers.get("Content-Type", "")))
            digest, size = hashlib.sha256(), 0
            with open(path, "wb") as f:
                for chunk in r.iter_content(CHUNK):
                    size += len(chunk)
                    if size > opts.max_bytes:
                        raise StepError("too_large", f"{url} exceeded the cap of {opts.max_bytes} bytes")
                    digest.update(chunk)
                    f.write(chunk)
            if declared and size < declared:
                raise StepError("truncated", f"{url}: got {size} of {declared} bytes")
            return path, size, digest.hexdigest()
    except StepError:
        raise
    except (requests.exceptions.Timeout, urllib3.exceptions.ReadTimeoutError) as e:
        raise StepError("timeout", f"{url}: no data for {opts.timeout_s:g} s ({type(e).__name__})") from e
    except requests.exceptions.ChunkedEncodingError as e:
        raise StepError("truncated", f"{url}: the connection closed before the whole file came ({e})") from e
    except requests.exceptions.ConnectionError as e:
        if "timed out" in str(e).lower():
            raise StepError("timeout", f"{url}: no data for {opts.timeout_s:g} s") from e
        raise StepError("network", f"{url}: {e}") from e
    except requests.exceptions.RequestException as e:
        raise StepError("bad_url", f"{url}: {e}") from e
