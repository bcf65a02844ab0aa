"""A live progress bar for corpus builds: rows done, ok/failed, clips/s and MB/s."""

from __future__ import annotations

import sys
import time
from collections import Counter

from tqdm import tqdm

from corpus.steps.base import Task


class BuildProgress:
    def __init__(self, total_rows: int, enabled: bool = True):
        self.counts: Counter = Counter()
        self.start = time.perf_counter()
        self.bar = tqdm(total=total_rows, unit="row", desc="build", disable=not enabled,
                        file=sys.stderr, dynamic_ncols=True, mininterval=0.5)

    def task_done(self, task: Task) -> None:
        for r in task.rows:
            self.counts[r["status"]] += 1
        self.counts["clips"] += len(task.clips)
        self.counts["clip_bytes"] += sum(c["bytes"] for c in task.clips)
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        self.bar.set_postfix(ok=self.counts["ok"], failed=self.counts["failed"] + self.counts["skipped"],
                             clips_s=f"{self.counts['clips'] / elapsed:.1f}",
                             MB_s=f"{self.counts['clip_bytes'] / elapsed / 1e6:.1f}", refresh=False)
        self.bar.update(len(task.rows))

    def remaining_bytes(self) -> int | None:
        """Clip bytes the rows not done yet will need, from what the done ones took; None before any."""
        done = self.counts["ok"] + self.counts["failed"] + self.counts["skipped"]
        if not self.counts["clip_bytes"]:
            return None
        return int(self.counts["clip_bytes"] / done * max(0, self.bar.total - done))

    def close(self) -> dict:
        self.bar.close()
        elapsed = time.perf_counter() - self.start
        return {"seconds": round(elapsed, 3), "rows_ok": self.counts["ok"],
                "rows_failed": self.counts["failed"], "rows_skipped": self.counts["skipped"],
                "clips": self.counts["clips"], "clip_bytes": self.counts["clip_bytes"]}
