"""What a corpus holds: counts by status and error kind, clips, shards, bytes, hours."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.compute as pc

from corpus.stats import add_stats
from manifests.layout import CorpusLayout
from manifests.tables import ManifestError, read_batches, read_table


def summarize(root: str | Path) -> dict:
    layout = CorpusLayout.at(root)
    if not layout.is_corpus():
        raise ManifestError(f"{root} is not a vmae corpus folder (no build.json); build one with "
                            "'vmae corpus build'")
    build = layout.build_doc()
    videos = read_table(layout.root, "videos", columns=["row", "status", "error_kind"])
    clips = _clip_counts(layout.root)
    shards = read_table(layout.root, "shards", required=False, columns=["bytes"])
    status = videos.group_by("status").aggregate([("row", "count")]).to_pylist()
    failed = videos.filter(pc.field("status").isin(["failed", "skipped"]))
    kinds = failed.group_by("error_kind").aggregate([("row", "count")]).to_pylist()
    steps: dict[str, dict] = {}
    for marker in sorted(layout.done.glob("*.json")) if layout.done.is_dir() else []:
        add_stats(steps, json.loads(marker.read_text()).get("steps") or {})
    return {
        "corpus": str(layout.root),
        "rows": videos.num_rows,
        "status": {r["status"]: r["row_count"] for r in sorted(status, key=lambda r: r["status"])},
        "error_kinds": {r["error_kind"]: r["row_count"] for r in sorted(kinds, key=lambda r: -r["row_count"])},
        **{k: v for k, v in clips.items() if k != "seconds"},
        "hours": round(clips["seconds"] / 3600, 4),
        "shards": shards.num_rows,
        "shard_bytes": pc.sum(shards["bytes"]).as_py() or 0,
        "build": build.get("state"),
        "steps": steps,  # per step, summed over finished units: outcome counts and seconds
        "tool_warnings": build.get("tool_warnings") or {},  # yt-dlp's, each once: text -> files it was seen on
        "stopped": build.get("stopped"),  # why the last run stopped early (a set-up fault), if it did
        # the plan's findings (renames, conflicts, unknown classes), without long lists
        "report": {k: v for k, v in (build.get("report") or {}).items() if not k.endswith("_list")},
    }


def _clip_counts(root: Path) -> dict:
    """clips, labeled_clips, images (one-frame image samples among the clips), captioned_clips
    and seconds, counted a batch at a time over the columns they need: a 25M-clip table read
    whole is ~28 GB."""
    counts = dict.fromkeys(("clips", "labeled_clips", "images", "captioned_clips"), 0) | {"seconds": 0.0}
    for batch in read_batches(root, "clips", ["duration_s", "label_id", "media", "caption"], 65_536):
        counts["clips"] += batch.num_rows
        counts["labeled_clips"] += batch.num_rows - batch.column("label_id").null_count
        counts["images"] += pc.sum(pc.equal(batch.column("media"), "image")).as_py() or 0
        counts["captioned_clips"] += batch.num_rows - batch.column("caption").null_count
        counts["seconds"] += pc.sum(batch.column("duration_s")).as_py() or 0.0
    return counts
