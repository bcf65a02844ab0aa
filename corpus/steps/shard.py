"""shard: pack a unit's clips into WebDataset tars of at most --shard-bytes, each written under
a temporary name and renamed into place, with its sha256 computed while writing."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

from manifests.atomic import atomic_path
from manifests.sample import LABEL_EXT, META_EXT, VIDEO_EXT, label_text, meta_json

_TAR_OVERHEAD = 3 * 1024  # headers and padding of one sample's members, for size planning


class _HashingWriter(io.RawIOBase):
    def __init__(self, f):
        self.f, self.sha, self.size = f, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.sha.update(b)
        self.size += len(b)
        return self.f.write(b)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o444, 0  # fixed metadata: same input, same bytes
    tar.addfile(info, io.BytesIO(data))


def _write_tar(path: Path, clips: list[dict], labeled: bool) -> dict:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        hw = _HashingWriter(f)
        with tarfile.open(fileobj=hw, mode="w|", format=tarfile.USTAR_FORMAT) as tar:
            for c in clips:
                _add(tar, f"{c['clip_key']}.{VIDEO_EXT}", Path(c["file"]).read_bytes())
                _add(tar, f"{c['clip_key']}.{META_EXT}", meta_json({k: v for k, v in c.items() if k != "file"}))
                if labeled and c["label_id"] is not None:
                    _add(tar, f"{c['clip_key']}.{LABEL_EXT}", label_text(c["label_id"]))
        f.flush()
        os.fsync(f.fileno())
    return {"bytes": hw.size, "sha256": hw.sha.hexdigest()}


def write_shards(root: Path, unit: str, clips: list[dict], shard_bytes: int, labeled: bool,
                 sort: bool = True) -> list[dict]:
    """Pack clips into tars/{unit}-{k}.tar, sorted by key (so reruns give the same tars) unless
    the caller's order matters (a mix interleaves sources); sets each clip's 'shard' and
    returns the shards/ rows."""
    groups: list[list[dict]] = []
    size = 0
    for c in sorted(clips, key=lambda c: c["clip_key"]) if sort else clips:
        need = c["bytes"] + _TAR_OVERHEAD
        if not groups or (size + need > shard_bytes and groups[-1]):
            groups.append([])
            size = 0
        groups[-1].append(c)
        size += need
    rows = []
    (root / "tars").mkdir(parents=True, exist_ok=True)
    for k, group in enumerate(groups):
        rel = f"tars/{unit}-{k:04d}.tar"
        for c in group:
            c["shard"] = rel
        written = _write_tar(root / rel, group, labeled)
        rows.append({"shard": rel, "unit": unit, "clips": len(group), **written})
    return rows
