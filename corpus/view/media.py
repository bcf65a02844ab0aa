"""A clip's bytes straight from its tar shard: where its member lies (the tar's headers read by
manifests/tars.py, which checks each before trusting it), byte ranges of it for the browser's
video element, and a contact sheet of a few frames made by ffmpeg reading that range in place.
Nothing is extracted; the shard's path comes from clips/ and is used only when it resolves to a
file inside the corpus folder."""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from corpus.errors import StepError
from corpus.media.preview import contact_sheet
from manifests.atomic import atomic_path
from manifests.containers import SNIFF_BYTES
from manifests.sample import media_ext
from manifests.tars import Member, TarError, members

SHEET_HEIGHT = 90  # px of each frame
PIECE = 256 * 1024  # bytes sent at once: a request's memory stays this, whatever the clip's size
_SHARD_CACHE = 64  # shards whose member tables are kept


class NotServed(Exception):
    """The request names nothing this viewer serves (the handler answers 404)."""


def inside(root: Path, relative: str) -> Path:
    """root/relative when it is a regular file inside root once every link is resolved; else
    NotServed. A table is an input like any other: its shard column may hold '..', an absolute
    path, or lead through a symlink out of the corpus."""
    if not relative or "\0" in relative or os.path.isabs(relative):
        raise NotServed(relative)
    base = os.path.realpath(root)
    target = os.path.realpath(os.path.join(base, relative))
    if os.path.commonpath([base, target]) != base or not os.path.isfile(target):
        raise NotServed(relative)
    return Path(target)


@dataclass(frozen=True)
class Located:
    shard: Path
    member: Member
    content_type: str


class Members:
    """Member tables of shards, read once each (headers only) and kept for the most recent shards."""

    def __init__(self) -> None:
        self._tables: OrderedDict[tuple[str, float], dict[str, Member]] = OrderedDict()
        self._lock = threading.Lock()

    def locate(self, root: Path, shard: str, key: str, media: str | None) -> Located:
        path = inside(root, shard)
        name = f"{key}.{media_ext(media)}"
        member = self._table(path).get(name)
        if member is None or member.refused or member.offset + member.size > path.stat().st_size:
            raise NotServed(name)  # absent, not a plain file, or past the end of a cut-short shard
        return Located(path, member, "image/jpeg" if media == "image" else "video/mp4")

    def _table(self, path: Path) -> dict[str, Member]:
        stamp = (str(path), path.stat().st_mtime)
        with self._lock:
            if stamp in self._tables:
                self._tables.move_to_end(stamp)
                return self._tables[stamp]
        try:
            with open(path, "rb") as f:
                table = {m.name: m for m, _ in members(f, str(path), max_bytes=2**40, read=False)}
        except TarError as e:
            raise NotServed(str(e)) from None
        with self._lock:
            self._tables[stamp] = table
            while len(self._tables) > _SHARD_CACHE:
                self._tables.popitem(last=False)
        return table


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single 'bytes=' range within size; None for the whole; ValueError
    when it cannot be satisfied (the handler answers 416)."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip() != "bytes" or "," in spec:
        return None  # a unit or a multi-range we do not serve: the whole, as RFC 9110 allows
    first, _, last = spec.strip().partition("-")
    try:
        if first == "":  # the last N bytes
            n = int(last)
            if n <= 0:
                raise ValueError
            return max(0, size - n), size - 1
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    except ValueError:
        raise ValueError(header) from None
    if start < 0 or start >= size or end < start:
        raise ValueError(header)
    return start, end


def read_range(located: Located, first: int, last: int) -> Iterator[bytes]:
    """The member's bytes first..last (inclusive, relative to the member), in pieces."""
    with open(located.shard, "rb") as f:
        f.seek(located.member.offset + first)
        left = last - first + 1
        while left > 0:
            piece = f.read(min(PIECE, left))
            if not piece:
                raise NotServed(f"{located.shard} ends inside {located.member.name}")
            left -= len(piece)
            yield piece


def member_sheet(located: Located, duration_s: float | None, height: int = SHEET_HEIGHT) -> bytes:
    """A contact sheet (JPEG bytes) of the member, drawn by ffmpeg reading its range of the tar."""
    m = located.member
    source = f"subfile,,start,{m.offset},end,{m.offset + m.size},,:{located.shard}"
    with open(located.shard, "rb") as f:
        f.seek(m.offset)
        head = f.read(min(m.size, SNIFF_BYTES))
    try:
        return contact_sheet(source, head, duration_s, height, located.content_type == "image/jpeg", "subfile,file")
    except StepError as e:
        raise NotServed(f"{m.name}: {e.message}") from None


def sheet(located: Located, duration_s: float | None, cache: Path, identity: str) -> Path:
    """member_sheet, made once and kept in `cache` under a name hashed from the corpus and key
    (never a name from the tables)."""
    out = cache / f"{hashlib.sha256(identity.encode('utf-8', 'surrogateescape')).hexdigest()}.jpg"
    if not out.is_file():
        data = member_sheet(located, duration_s)
        with atomic_path(out) as tmp:
            tmp.write_bytes(data)
    return out
