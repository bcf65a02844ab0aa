"""End-to-end check of a corpus folder: schemas, every input row once, every clip in exactly one
shard, tar members and clips/ in agreement, every video the bytes its row describes, shard sizes
and sha256 as recorded. Tars are read as data (manifests/tars.py): a damaged or crafted one is a
problem in the report, never a traceback."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from manifests.layout import CorpusLayout
from manifests.sample import MAX_KEY_BYTES, is_valid_key, media_ext, member_names
from manifests.schemas import STATUSES
from manifests.tables import ManifestError, read_batches, read_table
from manifests.tars import MIN_MEMBER_CAP, TarError, members

MAX_LISTED = 10  # problems of one kind listed before summarizing


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    checked: Counter = field(default_factory=Counter)

    def add(self, kind: str, items: list) -> None:
        if items:
            shown = ", ".join(map(str, items[:MAX_LISTED])) + (" …" if len(items) > MAX_LISTED else "")
            self.problems.append(f"{kind} ({len(items)}): {shown}")

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_videos(layout: CorpusLayout, rep: Report) -> None:
    videos = read_table(layout.root, "videos", columns=["row", "status", "error_kind"]).to_pandas()
    rep.checked["videos"] = len(videos)
    dup = videos["row"][videos["row"].duplicated()].tolist()
    rep.add("input rows listed more than once in videos/", dup)
    expected = layout.build_doc().get("rows")
    if expected is not None:
        missing = np.setdiff1d(np.arange(expected), videos["row"].to_numpy()).tolist()  # (Python sets: GBs at 25M)
        rep.add("input rows missing from videos/", missing)
    rep.add("unknown status values", sorted(set(videos["status"]) - set(STATUSES)))
    bad = videos[videos["status"].isin(["failed", "skipped"]) & videos["error_kind"].isna()]
    rep.add("failed/skipped rows without error_kind", bad["row"].tolist())


class _Hashed:
    """A file read once from start to end, hashed on the way (a stream: members skip by reading)."""

    def __init__(self, f):
        self.f, self.sha, self.size = f, hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.sha.update(data)
        self.size += len(data)
        return data

    def rest(self) -> None:
        while self.read(1 << 20):
            pass


def _tar_members(path: Path, cap: int) -> tuple[list[tuple[str, bytes | None]], list[str], str, int]:
    """(name, data (None when refused)) of every member, what was refused or damaged, and the file's
    sha256 and size."""
    found, troubles = [], []
    with open(path, "rb") as f:
        hashed = _Hashed(f)
        try:
            for member, data in members(hashed, str(path), cap):
                found.append((member.name, data))
                if member.refused:
                    troubles.append(f"{member.name!r}: {member.refused}")
        except TarError as e:
            troubles.append(str(e))
        hashed.rest()
    return found, troubles, hashed.sha.hexdigest(), hashed.size


def _clip_rows(layout: CorpusLayout) -> pd.DataFrame:
    """The clips/ columns the checks read: a caption as whether there is one (captions and
    signatures are most of a clip's row)."""
    table = read_table(layout.root, "clips", required=False,
                       columns=["clip_key", "shard", "bytes", "sha256", "media", "label_id"])
    captioned = [pc.is_valid(b.column("caption")) for b in read_batches(layout.root, "clips", ["caption"], 65_536)]
    return table.append_column("captioned", pa.chunked_array(captioned, pa.bool_())).to_pandas()


def _check_shards(layout: CorpusLayout, rep: Report, labeled: bool) -> None:
    clips = _clip_rows(layout)
    shards = read_table(layout.root, "shards", required=False).to_pandas()
    rep.checked["clips"], rep.checked["shards"] = len(clips), len(shards)
    rep.add("clip keys listed more than once", clips["clip_key"][clips["clip_key"].duplicated()].tolist())
    rep.add("clip keys with dots or slashes", [k for k in clips["clip_key"] if not is_valid_key(k)])
    long_keys = [k for k in clips["clip_key"] if len(k.encode("utf-8", "surrogateescape")) > MAX_KEY_BYTES]
    rep.add(f"clip keys longer than {MAX_KEY_BYTES} bytes", long_keys)
    rep.add("clips whose shard is not in shards/", sorted(set(clips["shard"]) - set(shards["shard"])))
    rep.add("clips without bytes or sha256", clips["clip_key"][clips["bytes"].isna() | clips["sha256"].isna()].tolist())
    cap = max(int(clips["bytes"].max()) if clips["bytes"].notna().any() else 0, MIN_MEMBER_CAP)
    root = layout.root.resolve()
    listed: Counter = Counter()
    of_shard = clips.groupby("shard").indices  # (a filter per shard was quadratic in the corpus' size)
    for _, s in shards.iterrows():
        path = (root / s["shard"]).resolve()
        if not path.is_relative_to(root):
            rep.add("shards listed outside the corpus folder (not read)", [s["shard"]])
            continue
        if not path.is_file():
            rep.add("shards listed but missing on disk", [s["shard"]])
            continue
        names_data, troubles, sha, size = _tar_members(path, cap)
        found = dict(names_data)
        rep.add(f"{s['shard']}: damaged or refused members", troubles)
        if sha != s["sha256"] or size != s["bytes"]:
            rep.add("shards whose bytes or sha256 differ from shards/", [s["shard"]])
        listed.update(name for name, _ in names_data)
        keys = clips.iloc[of_shard.get(s["shard"], [])]
        media = [m if isinstance(m, str) else None for m in keys["media"]]
        captioned = keys["captioned"].tolist()
        expected = {name for k, lid, cap, med in zip(keys["clip_key"], keys["label_id"], captioned, media, strict=True)
                    for name in member_names(k, labeled=labeled and pd.notna(lid), captioned=cap and med is not None,
                                             media=med)}
        # a version-1 corpus (no media column) wrote no .txt members; a newer one may hold them
        expected |= {f"{k}.txt" for k, cap, med in zip(keys["clip_key"], captioned, media, strict=True)
                     if cap and med is None and f"{k}.txt" in found}
        rep.add(f"{s['shard']}: members not listed in clips/", sorted(set(found) - expected))
        rep.add(f"{s['shard']}: clips/ members missing from the tar", sorted(expected - set(found)))
        rep.add(f"{s['shard']}: videos whose bytes or sha256 differ from their clips/ row",
                [k for k, n, h, med in zip(keys["clip_key"], keys["bytes"], keys["sha256"], media, strict=True)
                 if (data := found.get(f"{k}.{media_ext(med)}")) is not None
                 and (len(data) != n or hashlib.sha256(data).hexdigest() != h)])
        if len(keys) != s["clips"]:
            rep.add("shards whose clip count differs from shards/", [s["shard"]])
    rep.add("tar members that occur more than once", [n for n, c in listed.items() if c > 1])
    on_disk = {f"tars/{p.name}" for p in layout.tars.glob("*.tar")} if layout.tars.is_dir() else set()
    rep.add("tars on disk not listed in shards/", sorted(on_disk - set(shards["shard"])))


def validate(root: str | Path) -> Report:
    """Check the corpus at `root`; the report lists every kind of problem found."""
    layout = CorpusLayout.at(root)
    rep = Report()
    if not layout.is_corpus():
        rep.problems.append(f"{root}: not a vmae corpus folder (no build.json)")
        return rep
    try:
        _check_videos(layout, rep)
        labeled = bool(layout.build_doc().get("labeled"))
        _check_shards(layout, rep, labeled)
    except ManifestError as e:
        rep.problems.append(str(e))
    return rep
