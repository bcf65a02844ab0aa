"""The sample format inside a WebDataset shard (DESIGN.md §3).

    {clip_key}.mp4    H.264 yuv420p, +faststart
    {clip_key}.jpg    instead of .mp4 when the sample is an image (an image-text pair)
    {clip_key}.json   the clip's manifest row (every caption in "captions")
    {clip_key}.cls    label id as text; only in labeled corpora
    {clip_key}.txt    the first caption, UTF-8; only when the clip has one

WebDataset splits a member name into key and extension at the first dot of the base name,
so keys never contain dots or slashes; and a key fits a plain tar member name with its extension
(at most 95 bytes), however long the name of the film or the id it was cut from.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping

VIDEO_EXT = "mp4"
IMAGE_EXT = "jpg"
META_EXT = "json"
LABEL_EXT = "cls"
TEXT_EXT = "txt"

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_MAX_ID_CHARS = 64
# A plain (USTAR) tar member name holds 100 bytes: the key and the longest extension, '.json'.
MAX_KEY_BYTES = 100 - len(".json")


def safe_id(text: str) -> str:
    """A key-safe form of an arbitrary id. Ids that had to be changed get a short hash of the
    original, so that 'a.b' and 'a_b' cannot end up as the same key."""
    cleaned = _UNSAFE.sub("_", text).strip("_") or "x"
    if cleaned == text and len(cleaned) <= _MAX_ID_CHARS:
        return cleaned
    digest = hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{cleaned[:_MAX_ID_CHARS]}-h{digest}"


def fit_key(head: str, tail: str = "") -> str:
    """head + tail within MAX_KEY_BYTES: a longer head is cut and given a hash of the whole, so
    that two long names stay two keys (the full names stay in the manifest row)."""
    key = head + tail
    if len(key.encode()) <= MAX_KEY_BYTES:
        return key
    digest = "-k" + hashlib.sha1(key.encode("utf-8", "surrogateescape")).hexdigest()[:10]
    room = MAX_KEY_BYTES - len(digest) - len(tail.encode())
    return head.encode("utf-8", "surrogateescape")[:room].decode("utf-8", "ignore") + digest + tail


def clip_key(source: str, video_id: str, start_s: float, end_s: float) -> str:
    """Unique, stable key of a clip: source, video and the cut in milliseconds; a long source or
    video name is shortened (with a hash) so that the key fits a tar member name."""
    return fit_key(f"{safe_id(source)}_{safe_id(video_id)}", f"_{round(start_s * 1000):09d}_{round(end_s * 1000):09d}")


def is_valid_key(key: str) -> bool:
    return bool(key) and "." not in key and "/" not in key and "\\" not in key


def media_ext(media: str | None) -> str:
    """The member extension of a clip's media: .jpg for an image, .mp4 for a video (and for rows
    of version-1 corpora, which have no media column)."""
    return IMAGE_EXT if media == "image" else VIDEO_EXT


def member_names(key: str, labeled: bool, captioned: bool = False, media: str | None = None) -> list[str]:
    exts = [media_ext(media), META_EXT] + ([LABEL_EXT] if labeled else []) + ([TEXT_EXT] if captioned else [])
    return [f"{key}.{ext}" for ext in exts]


def caption_text(caption: str) -> bytes:
    return caption.encode("utf-8")


def _jsonable(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def _numpy_value(value):
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def meta_json(row: Mapping, skip: tuple[str, ...] = ("signature",)) -> bytes:
    """The .json member: the clip's manifest row (the signature stays in clips/ only); a NaN
    (a missing value from pandas) is written as null."""
    kept = {k: v for k, v in row.items() if k not in skip}
    try:  # the common case, at json's speed
        text = json.dumps(kept, ensure_ascii=False, sort_keys=True, allow_nan=False, default=_numpy_value)
    except ValueError:
        text = json.dumps({k: _jsonable(v) for k, v in kept.items()}, ensure_ascii=False, sort_keys=True)
    return text.encode("utf-8")


def label_text(label_id: int) -> bytes:
    return str(int(label_id)).encode("ascii")
