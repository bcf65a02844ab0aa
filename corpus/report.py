"""`vmae corpus report`: one PNG (and an HTML page embedding it) of what corpora hold: clips per
source, duration and resolution, why rows failed, what dedup dropped, class balance; the page also
shows contact sheets of examples (corpus/report_examples.py)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from corpus.errors import InputError  # noqa: E402
from corpus.report_examples import examples  # noqa: E402
from manifests.atomic import atomic_path  # noqa: E402
from manifests.layout import CorpusLayout  # noqa: E402
from manifests.tables import read_table, write_atomic_bytes  # noqa: E402

# What the picture draws, and nothing more: a clip's signatures alone are ~900 bytes decoded
_COLUMNS = {"clips": ["source", "duration_s", "width", "height", "label"], "videos": ["status", "error_kind"],
            "dedup": ["reason"]}


def _load(roots: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    tables: dict[str, list[pd.DataFrame]] = {name: [] for name in _COLUMNS}
    for root in roots:
        if not CorpusLayout.at(root).is_corpus():
            raise InputError(f"{root} is not a vmae corpus folder (no build.json)")
        for name, columns in _COLUMNS.items():
            table = read_table(root, name, required=name == "videos", columns=columns)
            tables[name].append(table.to_pandas().assign(corpus=root.name))
    return pd.concat(tables["clips"]), pd.concat(tables["videos"]), pd.concat(tables["dedup"])


def _flat(counts: pd.Series) -> pd.Series:
    """Counts indexed by 'a / b' instead of a two-level index."""
    return pd.Series(counts.to_numpy(), index=[" / ".join(map(str, t)) for t in counts.index])


def _bar(ax, series: pd.Series, title: str, empty: str) -> None:
    ax.set_title(title, fontsize=10)
    if series.empty:
        ax.text(0.5, 0.5, empty, ha="center", va="center", transform=ax.transAxes, color="gray")
        ax.set_axis_off()
        return
    series.plot.barh(ax=ax, color="#4878a8")
    ax.set_ylabel("")
    ax.invert_yaxis()
    for i, v in enumerate(series.to_numpy()):
        ax.text(v, i, f" {v:,}", va="center", fontsize=8)


def draw(clips: pd.DataFrame, videos: pd.DataFrame, dedup: pd.DataFrame, title: str) -> plt.Figure:
    fig, axes = plt.subplots(2, 3, figsize=(16, 9))
    fig.suptitle(title, fontsize=13)
    per_source = _flat(clips.groupby(["corpus", "source"]).size()) if len(clips) else pd.Series(dtype=int)
    _bar(axes[0, 0], per_source, "clips per corpus / source", "no clips")
    ax = axes[0, 1]
    ax.set_title("clip duration (s)", fontsize=10)
    durations = clips["duration_s"].dropna() if len(clips) else pd.Series(dtype=float)
    if len(durations):  # (a table written without durations would make the histogram raise)
        ax.hist(durations, bins=30, color="#6a9f58")
        ax.set_ylabel("clips")
    short = clips["width"].combine(clips["height"], min) if len(clips) else pd.Series(dtype=int)
    _bar(axes[0, 2], short.value_counts().sort_index().rename(lambda v: f"{v}px short side"),
         "resolution (short side)", "no clips")
    failed = videos[videos["status"].isin(["failed", "skipped"])]
    _bar(axes[1, 0], _flat(failed.groupby(["status", "error_kind"]).size()).sort_values(ascending=False),
         "rows not built, by reason", "every row built")
    outcome = dedup["reason"].fillna("kept").value_counts() if len(dedup) else pd.Series(dtype=int)
    _bar(axes[1, 1], outcome, "dedup outcome", "not deduplicated yet")
    ax = axes[1, 2]
    labeled = clips[clips["label"].notna()] if len(clips) else clips
    ax.set_title("class balance (clips per class, sorted)", fontsize=10)
    if len(labeled):
        counts = labeled["label"].value_counts()
        if len(counts) <= 40:
            ax.bar(range(len(counts)), counts.to_numpy(), color="#b55d4c")
            ax.set_xticks(range(len(counts)), [str(c)[:18] for c in counts.index], rotation=60, ha="right",
                          fontsize=7)
        else:
            ax.plot(range(len(counts)), counts.to_numpy(), color="#b55d4c")
        ax.set_ylim(bottom=0)
        ax.set_xlabel(f"{len(counts)} classes; min {counts.min()}, median {int(counts.median())}, max {counts.max()}")
        ax.set_ylabel("clips")
    else:
        ax.text(0.5, 0.5, "no labels", ha="center", va="center", transform=ax.transAxes, color="gray")
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def report(roots: list[str | Path], out: str | Path) -> tuple[Path, Path]:
    """Write OUT.png and OUT.html; returns both paths."""
    roots = [Path(r) for r in roots]
    if not roots:
        raise InputError("give at least one corpus folder")
    clips, videos, dedup = _load(roots)
    title = f"{', '.join(r.name for r in roots)}: {len(videos):,} input rows, {len(clips):,} clips, " \
            f"{clips['duration_s'].sum() / 3600 if len(clips) else 0:.2f} h"
    png = Path(out).with_suffix(".png")
    png.parent.mkdir(parents=True, exist_ok=True)
    fig = draw(clips, videos, dedup, title)
    with atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    counts = {r.name: CorpusLayout.at(r).build_doc().get("counts") for r in roots}
    page = (f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<h1>{html.escape(title)}</h1><img style='max-width:100%' src='data:image/png;base64,"
            f"{base64.b64encode(png.read_bytes()).decode()}'>{''.join(examples(r) for r in roots)}"
            f"<h2>Counts</h2><pre>{html.escape(json.dumps(counts, indent=2))}</pre>")
    page_path = png.with_suffix(".html")
    write_atomic_bytes(page_path, page.encode("utf-8"))
    return png, page_path
