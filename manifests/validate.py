"""End-to-end check of a corpus folder: schemas, every input row once, every clip in exactly one
shard, tar members and clips/ in agreement, shard sizes and sha256 as recorded."""

from __future__ import annotations

import hashlib
import tarfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from manifests.layout import CorpusLayout
from manifests.sample import MAX_KEY_BYTES, is_valid_key, member_names
from manifests.schemas import STATUSES
from manifests.tables import ManifestError, read_table

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
    videos = read_table(layout.root, "videos").to_pandas()
    rep.checked["videos"] = len(videos)
    dup = videos["row"][videos["row"].duplicated()].tolist()
    rep.add("input rows listed more than once in videos/", dup)
    expected = layout.build_doc().get("rows")
    if expected is not None:
        missing = sorted(set(range(expected)) - set(videos["row"]))
        rep.add("input rows missing from videos/", missing)
    rep.add("unknown status values", sorted(set(videos["status"]) - set(STATUSES)))
    bad = videos[videos["status"].isin(["failed", "skipped"]) & videos["error_kind"].isna()]
    rep.add("failed/skipped rows without error_kind", bad["row"].tolist())


def _tar_members(path: Path) -> tuple[list[str], str, int]:
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
            size += len(block)
    with tarfile.open(path) as tar:
        names = [m.name for m in tar.getmembers()]
    return names, h.hexdigest(), size


def _check_shards(layout: CorpusLayout, rep: Report, labeled: bool) -> None:
    clips = read_table(layout.root, "clips", required=False).to_pandas()
    shards = read_table(layout.root, "shards", required=False).to_pandas()
    rep.checked["clips"], rep.checked["shards"] = len(clips), len(shards)
    rep.add("clip keys listed more than once", clips["clip_key"][clips["clip_key"].duplicated()].tolist())
    rep.add("clip keys with dots or slashes", [k for k in clips["clip_key"] if not is_valid_key(k)])
    long_keys = [k for k in clips["clip_key"] if len(k.encode("utf-8", "surrogateescape")) > MAX_KEY_BYTES]
    rep.add(f"clip keys longer than {MAX_KEY_BYTES} bytes", long_keys)
    rep.add("clips whose shard is not in shards/", sorted(set(clips["shard"]) - set(shards["shard"])))
    listed: Counter = Counter()
    for _, s in shards.iterrows():
        path = layout.root / s["shard"]
        if not path.is_file():
            rep.add("shards listed but missing on disk", [s["shard"]])
            continue
        names, sha, size = _tar_members(path)
        if sha != s["sha256"] or size != s["bytes"]:
            rep.add("shards whose bytes or sha256 differ from shards/", [s["shard"]])
        listed.update(names)
        keys = clips.loc[clips["shard"] == s["shard"]]
        expected = {name for k, lid in zip(keys["clip_key"], keys["label_id"], strict=True)
                    for name in member_names(k, labeled=labeled and pd.notna(lid))}
        rep.add(f"{s['shard']}: members not listed in clips/", sorted(set(names) - expected))
        rep.add(f"{s['shard']}: clips/ members missing from the tar", sorted(expected - set(names)))
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
