"""Writing one output unit of a mix, in a worker: its shard, with every member read from the
source tars by offset (one pread per member, no staging copy on disk), then its clips/ and
shards/ parts, then its marker."""

from __future__ import annotations

import io
import json
import mmap
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from corpus.steps.shard import KEEP_OUT_OF_META, write_tar
from manifests.layout import CorpusLayout
from manifests.tables import write_atomic_bytes, write_part

_INDEX: dict[str, dict[str, tuple[int, int]]] = {}  # per worker process: member offsets of each source tar


def _index(tar: str) -> dict[str, tuple[int, int]]:
    """Member name -> (offset of its data, size), read from the 512-byte USTAR headers (as our
    shards are written) through a memory map, so only the header pages are read; a tar with
    other kinds of headers is read by tarfile."""
    index = {}
    with open(tar, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return index
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            offset, end = 0, len(m)
            while offset + 512 <= end and m[offset]:  # a zero block ends the archive
                header = m[offset:offset + 512]
                if header[156] not in (0x30, 0) or header[257:262] != b"ustar":
                    with tarfile.open(tar) as t:
                        return {i.name: (i.offset_data, i.size) for i in t.getmembers() if i.isfile()}
                name = header[:100].split(b"\0", 1)[0].decode()
                prefix = header[345:500].split(b"\0", 1)[0].decode()
                size = int(header[124:136].split(b"\0", 1)[0].strip() or b"0", 8)
                index[f"{prefix}/{name}" if prefix else name] = (offset + 512, size)
                offset += 512 + -(-size // 512) * 512
    return index


class _SourceTars:
    """The source tars a unit reads, each opened once; a member is read with one pread."""

    def __init__(self):
        self.fds: dict[str, int] = {}

    def member(self, tar: str, name: str) -> tuple[BinaryIO, int]:
        if tar not in _INDEX:
            _INDEX[tar] = _index(tar)
        if tar not in self.fds:
            self.fds[tar] = os.open(tar, os.O_RDONLY)
        offset, size = _INDEX[tar][name]
        data = os.pread(self.fds[tar], size, offset)
        if len(data) != size:
            raise OSError(f"{tar}: member {name} is cut short ({len(data)} of {size} bytes)")
        return io.BytesIO(data), size

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)


@dataclass(frozen=True)
class MixUnit:
    unit: str
    clips: list[dict]  # planned rows, in output order


@dataclass(frozen=True)
class UnitCopier:
    """Picklable: what a worker needs to write any unit of one mix."""

    root: str
    labeled: bool

    def __call__(self, work: MixUnit) -> dict:
        layout = CorpusLayout.at(Path(self.root))
        shard = work.clips[0]["shard"]
        sources = _SourceTars()
        try:
            written = write_tar(layout.root / shard, work.clips, self.labeled,
                                lambda c: sources.member(c["src_tar"], c["src_member"]))
        finally:
            sources.close()
        rows = [{k: v for k, v in c.items() if k not in (*KEEP_OUT_OF_META, "src_member")} for c in work.clips]
        write_part(layout.part("clips", work.unit), "clips", rows)
        write_part(layout.part("shards", work.unit), "shards",
                   [{"shard": shard, "unit": work.unit, "clips": len(rows), **written}])
        marker = {"clips": len(rows), "bytes": written["bytes"]}
        write_atomic_bytes(layout.marker(f"{work.unit}.json"), json.dumps(marker).encode())
        return marker
