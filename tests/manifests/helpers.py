"""Rows of every table, shared by the manifests' tests and the tests that switch tables under readers."""

from __future__ import annotations

EXAMPLES = {
    "videos": {"row": 0, "video_id": "v1", "source": "web", "url": "http://127.0.0.1/a.mp4", "status": "ok",
               "attempts": 1, "duration_s": 3.0, "width": 320, "height": 240, "clips": 1, "unit": "u000000"},
    "clips": {"clip_key": "web_v1_000000000_000003000", "video_id": "v1", "source": "web", "row": 0,
              "start_s": 0.0, "end_s": 3.0, "frames": 75, "signature": [1, 2**63, 3, 4, 5, 6, 7, 2**64 - 1],
              "label": "running", "label_id": 3, "shard": "tars/u000000-0000.tar", "sharpness": 6.5,
              "frozen": 0.0, "bars": 0.25, "overlay": 0.0},
    "shards": {"shard": "tars/u000000-0000.tar", "unit": "u000000", "clips": 1, "bytes": 10, "sha256": "ab"},
    "dedup": {"clip_key": "k", "video_id": "v1", "keep": False, "reason": "near", "duplicate_of": "j",
              "distance": 3},
    "rejects": {"clip_key": "k", "video_id": "v1", "row": 0, "source": "web", "start_s": 0.0, "end_s": 1.0,
                "filter": "sharpness", "reason": "blurry", "detail": "sharpness 1.2 is below the min_sharpness of 3",
                "unit": "u000000"},
}


def rows(n: int, start: int = 0) -> list[dict]:
    """`n` videos/ rows numbered from `start`."""
    return [{**EXAMPLES["videos"], "row": start + i, "video_id": f"v{start + i}"} for i in range(n)]
