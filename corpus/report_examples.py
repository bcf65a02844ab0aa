"""The report's pictures of clips: contact sheets of examples per source and per class (drawn
from the tars, nothing extracted), of clips that each filter decision dropped (kept in rejects/,
since their files are gone) and of clips dedup dropped, as HTML sections with the JPEGs inline."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

from corpus.view.media import Members, NotServed, member_sheet
from manifests.tables import read_table

PER_GROUP = 4  # examples per source, per filter decision, per dedup reason
CLASSES = 40  # classes shown (the most common), one example each
SHEET_HEIGHT = 64


def _img(jpeg: bytes, caption: str) -> str:
    return (f"<figure style='display:inline-block;margin:4px'><img src='data:image/jpeg;base64,"
            f"{base64.b64encode(jpeg).decode()}'><figcaption style='font:11px monospace'>{html.escape(caption)}"
            f"</figcaption></figure>")


class _Sheets:
    def __init__(self, root: Path) -> None:
        self.root, self.members = root, Members()

    def of(self, clip) -> bytes | None:
        try:
            located = self.members.locate(self.root, clip["shard"], clip["clip_key"], clip["media"])
            return member_sheet(located, clip["duration_s"], SHEET_HEIGHT)
        except (NotServed, TypeError):
            return None  # a clip whose shard is missing or unreadable: the section shows the others

    def row(self, title: str, clips: pd.DataFrame, caption=lambda c: c["clip_key"]) -> str:
        pictures = [_img(jpeg, caption(c)) for _, c in clips.iterrows() if (jpeg := self.of(c)) is not None]
        return f"<h3>{html.escape(title)}</h3>{''.join(pictures) or '<p>no picture could be drawn</p>'}"


def examples(root: Path, seed: int = 0) -> str:
    """The HTML section of one corpus' example pictures."""
    columns = ["clip_key", "source", "label", "shard", "media", "duration_s"]
    clips = read_table(root, "clips", required=False, columns=columns).to_pandas()
    parts = [f"<h2>Examples from {html.escape(root.name)}</h2>"]
    if clips.empty:
        return parts[0] + "<p>no clips (a plan-only corpus, or nothing built yet)</p>"
    sheets = _Sheets(root)
    for source, group in clips.groupby("source"):
        parts.append(sheets.row(f"source {source}: {len(group):,} clips",
                                group.sample(min(PER_GROUP, len(group)), random_state=seed)))
    labeled = clips[clips["label"].notna()]
    if len(labeled):
        common = labeled["label"].value_counts().index[:CLASSES]
        one_each = labeled[labeled["label"].isin(common)].groupby("label").sample(1, random_state=seed)
        parts.append(sheets.row(f"one clip of each of the {len(common)} most common classes (of "
                                f"{labeled['label'].nunique()})", one_each, caption=lambda c: c["label"]))
    rejects = read_table(root, "rejects", required=False, columns=["clip_key", "filter", "reason", "detail",
                                                                   "preview"]).to_pandas()
    shown = rejects[rejects["preview"].notna()]
    for (name, reason), group in shown.groupby(["filter", "reason"]):
        total = int(((rejects["filter"] == name) & (rejects["reason"] == reason)).sum())
        pictures = "".join(_img(r.preview, f"{r.clip_key}: {r.detail}") for r in group.head(PER_GROUP).itertuples())
        parts.append(f"<h3>dropped by the {html.escape(name)} filter as {html.escape(reason)}: {total:,} clips"
                     f"</h3>{pictures}")
    dedup = read_table(root, "dedup", required=False, columns=["clip_key", "keep", "reason", "duplicate_of",
                                                               "distance"]).to_pandas()
    dropped = dedup[~dedup["keep"].fillna(True).astype(bool)].merge(clips, on="clip_key")
    for reason, group in dropped.groupby("reason"):
        parts.append(sheets.row(f"dropped by dedup as {reason}: {len(group):,} clips", group.head(PER_GROUP),
                                caption=lambda c: f"{c['clip_key']} (copy of {c['duplicate_of']})"))
    return "".join(parts)
