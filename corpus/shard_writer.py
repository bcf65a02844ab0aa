"""The shard writer: pack a unit's clips into WebDataset tars of at most --shard-bytes, each written under
a temporary name and renamed into place, with its sha256 computed while writing. Video bytes are
streamed into the tar from wherever they lie (an encoded file, or a member of another tar)."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from manifests.atomic import atomic_path
from manifests.sample import LABEL_EXT, META_EXT, TEXT_EXT, caption_text, label_text, media_ext, meta_json

TAR_OVERHEAD = 3 * 1024  # headers and padding of one sample's members, for size planning


BLOCK, RECORD = 512, 20 * 512  # tar blocks; a tar stream ends padded to a whole record


def ustar_header(name: str, size: int) -> bytes:
    """The USTAR header of a plain read-only file with zero times and owners: the bytes Python's
    tarfile writes for such a member (a test holds that), made without its per-member objects."""
    encoded = name.encode()
    if len(encoded) > 100:
        raise ValueError(f"tar member name {name!r} is longer than 100 bytes")
    h = bytearray(BLOCK)
    h[0:len(encoded)] = encoded
    h[100:148] = b"0000444\x000000000\x000000000\x00" + b"%011o\x00" % size + b"00000000000\x00"
    h[148:156] = b" " * 8  # the checksum counts its own field as spaces
    h[156:157], h[257:265] = b"0", b"ustar\x0000"
    h[148:156] = b"%06o\x00 " % sum(h)
    return bytes(h)


class _TarOut:
    """A tar written as a stream, hashed as it is written."""

    def __init__(self, f: BinaryIO):
        self.f, self.sha, self.size = f, hashlib.sha256(), 0

    def _write(self, b: bytes) -> None:
        self.sha.update(b)
        self.f.write(b)
        self.size += len(b)

    def add(self, name: str, src: BinaryIO, size: int) -> None:
        """A member whose data is streamed from `src` (never staged)."""
        self._write(ustar_header(name, size))
        left = size
        with src:
            while left:
                chunk = src.read(min(left, 1 << 20))
                if not chunk:
                    raise OSError(f"{name}: the source ended {left} bytes early")
                self._write(chunk)
                left -= len(chunk)
        self._write(bytes(-size % BLOCK))

    def close(self) -> None:
        self._write(bytes(2 * BLOCK))
        self._write(bytes(-self.size % RECORD))


# How a clip's video bytes are read: an open binary file positioned at them, and their size.
OpenVideo = Callable[[dict], tuple[BinaryIO, int]]
KEEP_OUT_OF_META = ("file", "src_tar", "src_offset")  # where the bytes come from, not the clip's row


def encoded_file(clip: dict) -> tuple[BinaryIO, int]:
    """The video of a clip the clip step encoded (its 'file')."""
    return open(clip["file"], "rb"), clip["bytes"]  # noqa: SIM115 - closed once copied


def write_tar(path: Path, clips: list[dict], labeled: bool, open_video: OpenVideo = encoded_file) -> dict:
    """One shard: each clip's video (or image), its row as JSON, its label when labeled and its
    first caption when it has one; written under a temporary name and renamed into place. Returns
    its bytes and sha256."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        tar = _TarOut(f)
        for c in clips:
            tar.add(f"{c['clip_key']}.{media_ext(c.get('media'))}", *open_video(c))
            meta = meta_json({k: v for k, v in c.items() if k not in KEEP_OUT_OF_META})
            tar.add(f"{c['clip_key']}.{META_EXT}", io.BytesIO(meta), len(meta))
            if labeled and c["label_id"] is not None:
                label = label_text(c["label_id"])
                tar.add(f"{c['clip_key']}.{LABEL_EXT}", io.BytesIO(label), len(label))
            if c.get("caption") is not None:
                text = caption_text(c["caption"])
                tar.add(f"{c['clip_key']}.{TEXT_EXT}", io.BytesIO(text), len(text))
        tar.close()
        f.flush()
        os.fsync(f.fileno())
    return {"bytes": tar.size, "sha256": tar.sha.hexdigest()}


def group_by_bytes(clips: list[dict], shard_bytes: int) -> list[list[dict]]:
    """Consecutive clips into groups of at most `shard_bytes` (a clip larger alone is one group)."""
    groups: list[list[dict]] = []
    size = 0
    for c in clips:
        need = c["bytes"] + TAR_OVERHEAD
        if not groups or (size + need > shard_bytes and groups[-1]):
            groups.append([])
            size = 0
        groups[-1].append(c)
        size += need
    return groups


def write_shards(root: Path, unit: str, clips: list[dict], shard_bytes: int, labeled: bool) -> list[dict]:
    """Pack a unit's clips into tars/{unit}-{k}.tar, sorted by key (so reruns give the same tars);
    sets each clip's 'shard' and returns the shards/ rows."""
    rows = []
    (root / "tars").mkdir(parents=True, exist_ok=True)
    for k, group in enumerate(group_by_bytes(sorted(clips, key=lambda c: c["clip_key"]), shard_bytes)):
        rel = f"tars/{unit}-{k:04d}.tar"
        for c in group:
            c["shard"] = rel
        written = write_tar(root / rel, group, labeled)
        rows.append({"shard": rel, "unit": unit, "clips": len(group), **written})
    return rows
