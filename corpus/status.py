"""What a corpus holds: counts by status and error kind, clips, shards, bytes, hours."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.compute as pc

from corpus.stats import add_stats
from manifests.layout import CorpusLayout
from manifests.tables import ManifestError, read_table


def summarize(root: str | Path) -> dict:
    layout = CorpusLayout.at(root)
    if not layout.is_corpus():
        raise ManifestError(f"{root} is not a vmae corpus folder (no build.json); build one with "
                            "'vmae corpus build'")
    build = layout.build_doc()
    videos = read_table(layout.root, "videos")
    clips = read_table(layout.root, "clips", required=False)
    shards = read_table(layout.root, "shards", required=False)
    status = videos.group_by("status").aggregate([("row", "count")]).to_pylist()
    failed = videos.filter(pc.field("status").isin(["failed", "skipped"]))
    kinds = failed.group_by("error_kind").aggregate([("row", "count")]).to_pylist()
    seconds = pc.sum(clips["duration_s"]).as_py() or 0.0
    steps: dict[str, dict] = {}
    for marker in sorted(layout.done.glob("*.json")) if layout.done.is_dir() else []:
        add_stats(steps, json.loads(marker.read_text()).get("steps") or {})
    return {
        "corpus": str(layout.root),
        "rows": videos.num_rows,
        "status": {r["status"]: r["row_count"] for r in sorted(status, key=lambda r: r["status"])},
        "error_kinds": {r["error_kind"]: r["row_count"] for r in sorted(kinds, key=lambda r: -r["row_count"])},
        "clips": clips.num_rows,
        "labeled_clips": clips.num_rows - clips["label_id"].null_count,
        "images": pc.sum(pc.equal(clips["media"], "image")).as_py() or 0,  # one-frame image samples among the clips
        "captioned_clips": clips.num_rows - clips["caption"].null_count,
        "hours": round(seconds / 3600, 4),
        "shards": shards.num_rows,
        "shard_bytes": pc.sum(shards["bytes"]).as_py() or 0,
        "build": build.get("state"),
        "steps": steps,  # per step, summed over finished units: outcome counts and seconds
        "tool_warnings": build.get("tool_warnings") or {},  # yt-dlp's, each once: text -> files it was seen on
        "stopped": build.get("stopped"),  # why the last run stopped early (a set-up fault), if it did
        # the plan's findings (renames, conflicts, unknown classes), without long lists
        "report": {k: v for k, v in (build.get("report") or {}).items() if not k.endswith("_list")},
    }
