"""A build of a plan-only corpus that was deduplicated skips the videos dedup dropped, so
duplicates and evaluation leaks are never downloaded."""

from __future__ import annotations

import pyarrow.parquet as pq

from corpus.units import is_done, unit_of
from manifests.layout import CorpusLayout
from manifests.tables import part_files, read_frame, write_part

ERROR_KIND = {"exact_id": "duplicate", "leak_id": "leak"}


def skip_deduplicated(layout: CorpusLayout) -> int:
    """Mark pending rows of videos that dedup dropped as skipped; returns how many."""
    dedup = read_frame(layout.root, "dedup", required=False)
    dropped = dedup[~dedup["keep"] & (dedup["clip_key"] == dedup["video_id"])]
    if dropped.empty:
        return 0
    why = dropped.set_index("video_id")[["reason", "duplicate_of", "duplicate_corpus"]].to_dict("index")
    changed = 0
    for part in part_files(layout.table("videos")):
        if is_done(layout, unit_of(part)):
            continue
        rows = pq.read_table(part).to_pylist()
        hits = [r for r in rows if r["status"] == "pending" and r["video_id"] in why]
        for r in hits:
            w = why[r["video_id"]]
            where = f" in {w['duplicate_corpus']}" if w["duplicate_corpus"] else ""
            r.update(status="skipped", error_kind=ERROR_KIND.get(w["reason"], "duplicate"),
                     error=f"dropped by 'vmae corpus dedup': {w['reason']} of {w['duplicate_of']}{where}")
        if hits:
            write_part(part, "videos", rows)
            changed += len(hits)
    return changed
