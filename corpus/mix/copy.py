"""Writing one output unit of a mix, in a worker: its shard, with every member read from the
source tars by offset (one pread per member, no staging copy on disk) and checked against the
row it is copied with, then its clips/ and shards/ parts, then its marker."""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow.parquet as pq

from corpus.errors import InputError
from corpus.shard_writer import KEEP_OUT_OF_META, write_tar
from manifests.layout import CorpusLayout
from manifests.tables import write_atomic_bytes, write_part
from manifests.tars import Member, members

_INDEX: dict[str, dict[str, Member]] = {}  # per worker process: the members of each source tar


def _index(tar: str) -> dict[str, Member]:
    """Member name -> member, from the tar's headers alone (manifests/tars.py checks each; data is
    skipped, not read)."""
    with open(tar, "rb") as f:
        return {m.name: m for m, _ in members(f, tar, max_bytes=2**63, read=False)}


class _SourceTars:
    """The source tars a unit reads, each opened once; a member is read with one pread and must be
    the bytes its clips/ row describes (size and sha256): a corrupted or swapped member never goes
    into a hybrid under the original's hashes."""

    def __init__(self):
        self.fds: dict[str, int] = {}

    def member(self, clip: dict) -> tuple[BinaryIO, int]:
        tar, name = clip["src_tar"], clip["src_member"]
        if tar not in _INDEX:
            _INDEX[tar] = _index(tar)
        found = _INDEX[tar].get(name)
        if found is None or found.refused:
            raise InputError(f"{tar}: {name} is {'not in the tar' if found is None else found.refused}; its clips/ "
                             f"row says it is. Check the corpus with 'vmae manifests validate'")
        if tar not in self.fds:
            self.fds[tar] = os.open(tar, os.O_RDONLY)
        data = os.pread(self.fds[tar], found.size, found.offset)
        if len(data) != found.size:
            raise InputError(f"{tar}: member {name} is cut short ({len(data)} of {found.size} bytes)")
        if len(data) != clip["bytes"] or hashlib.sha256(data).hexdigest() != clip["sha256"]:
            raise InputError(f"{tar}: member {name} is not the clip its clips/ row describes ({len(data)} bytes, "
                             f"{clip['bytes']} listed; or another sha256): the corpus was damaged or changed after "
                             "it was built. Check it with 'vmae manifests validate', rebuild it, or mix without it")
        return io.BytesIO(data), found.size

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)


@dataclass(frozen=True)
class MixUnit:
    unit: str
    plan: str  # the Parquet file of its planned rows, in output order (corpus/mix/gather.py)
    clips: int


@dataclass(frozen=True)
class UnitCopier:
    """Picklable: what a worker needs to write any unit of one mix."""

    root: str
    labeled: bool

    def __call__(self, work: MixUnit) -> dict:
        layout = CorpusLayout.at(Path(self.root))
        clips = pq.read_table(work.plan).to_pylist()
        shard = clips[0]["shard"]
        sources = _SourceTars()
        try:
            written = write_tar(layout.root / shard, clips, self.labeled, sources.member)
        finally:
            sources.close()
        rows = [{k: v for k, v in c.items() if k not in (*KEEP_OUT_OF_META, "src_member")} for c in clips]
        write_part(layout.part("clips", work.unit), "clips", rows)
        write_part(layout.part("shards", work.unit), "shards",
                   [{"shard": shard, "unit": work.unit, "clips": len(rows), **written}])
        marker = {"clips": len(rows), "bytes": written["bytes"]}
        write_atomic_bytes(layout.marker(f"{work.unit}.json"), json.dumps(marker).encode())
        return marker
