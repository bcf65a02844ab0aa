"""A build of a plan-only corpus that was deduplicated skips the videos dedup dropped, so
duplicates and evaluation leaks are never downloaded."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from corpus.units import update_rows
from manifests.layout import CorpusLayout
from manifests.tables import read_frame, read_table

ERROR_KIND = {"exact_id": "duplicate", "leak_id": "leak"}


def skip_deduplicated(layout: CorpusLayout) -> int:
    """Mark pending rows of videos that dedup dropped as skipped; returns how many."""
    dedup = read_frame(layout.root, "dedup", required=False)
    dropped = dedup[~dedup["keep"] & (dedup["clip_key"] == dedup["video_id"])]
    if dropped.empty:
        return 0
    why = dropped.set_index("video_id")[["reason", "duplicate_of", "duplicate_corpus"]].to_dict("index")
    videos = read_table(layout.root, "videos")
    hits = videos.filter(pc.and_(pc.equal(videos["status"], "pending"),
                                 pc.is_in(videos["video_id"], value_set=pa.array(list(why), pa.string())))).to_pylist()
    for r in hits:
        w = why[r["video_id"]]
        where = f" in {w['duplicate_corpus']}" if w["duplicate_corpus"] else ""
        r.update(status="skipped", error_kind=ERROR_KIND.get(w["reason"], "duplicate"),
                 error=f"dropped by 'vmae corpus dedup': {w['reason']} of {w['duplicate_of']}{where}")
    if hits:
        update_rows(layout, hits)
    return len(hits)
