"""Filter steps: a filter answers, for each input row (before download) or each clip (after
encoding), keep or a reason to drop it. The base does the rest, so that what a filter drops is
never lost: a rejects/ row with the reason and the measured value, a count per reason in the
step's stats (the unit's marker, build.json, `vmae corpus status`), and a row whose every clip
was dropped becomes `skipped` in videos/ with the reason as its error_kind."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import ClassVar

from corpus.errors import StepError
from corpus.media.preview import contact_sheet
from corpus.steps.base import Step, Task
from manifests.containers import SNIFF_BYTES

Verdict = tuple[str, str] | None  # None: keep; else (reason, detail)
PREVIEWS = 3  # dropped clips of each reason, per unit, whose contact sheet is kept in rejects/
PREVIEW_HEIGHT = 64


class Filter(Step):
    """A step that answers, for each row (`on = "rows"`, before download) or clip (`on = "clips"`,
    after encoding), keep or a reason to drop it; its options are a frozen dataclass named Options."""

    on: ClassVar[str]  # "rows": before download; "clips": after encoding

    def applies(self, task: Task) -> bool:
        return bool(task.pending if self.on == "rows" else task.clips)

    def check(self, item: dict) -> Verdict:
        """Keep (None) or drop (reason, detail) one row or clip."""
        raise NotImplementedError

    def process(self, task: Task) -> Counter:
        return self._filter_rows(task) if self.on == "rows" else self._filter_clips(task)

    def _filter_rows(self, task: Task) -> Counter:
        stats: Counter = Counter()
        for row in task.pending:
            verdict = self.check(row)
            if verdict is None:
                stats["kept"] += 1
                continue
            reason, detail = verdict
            stats[reason] += 1
            row.update(status="skipped", error_kind=reason, error=f"kept out by the {self.name} filter: {detail}")
            task.rejects.append(_reject(self.name, row, None, reason, detail, task.unit))
        return stats

    def _filter_clips(self, task: Task) -> Counter:
        stats: Counter = Counter()
        kept = []
        for clip in task.clips:
            verdict = self.check(clip)
            if verdict is None:
                stats["kept"] += 1
                kept.append(clip)
                continue
            reason, detail = verdict
            stats[reason] += 1
            reject = _reject(self.name, clip, clip["clip_key"], reason, detail, task.unit)
            if clip.get("file"):
                if stats[reason] <= PREVIEWS:
                    reject["preview"] = _preview(clip)
                Path(clip["file"]).unlink(missing_ok=True)
            task.rejects.append(reject)
        dropped = Counter(c["row"] for c in task.clips) - Counter(c["row"] for c in kept)
        task.clips = kept
        for row in task.rows:
            if row["status"] == "ok" and dropped[row["row"]]:
                row["clips"] -= dropped[row["row"]]
                if not row["clips"]:
                    why = next(r for r in reversed(task.rejects) if r["row"] == row["row"])
                    row.update(status="skipped", error_kind=why["reason"],
                               error=f"every clip kept out by filters, the last by {why['filter']}: {why['detail']}")
        return stats


def _preview(clip: dict) -> bytes | None:
    """The dropped clip's contact sheet; None when ffmpeg cannot draw one (the reject stands)."""
    try:
        with open(clip["file"], "rb") as f:
            head = f.read(SNIFF_BYTES)
        return contact_sheet(clip["file"], head, clip.get("duration_s"), PREVIEW_HEIGHT,
                             image=clip.get("media") == "image")
    except (StepError, OSError):
        return None


def _reject(name: str, item: dict, key: str | None, reason: str, detail: str, unit: str) -> dict:
    return {"clip_key": key, "video_id": item.get("video_id"), "row": item["row"], "source": item.get("source"),
            "start_s": item.get("start_s"), "end_s": item.get("end_s"), "filter": name, "reason": reason,
            "detail": detail, "unit": unit}
