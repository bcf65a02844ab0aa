"""Training curves as PNG pictures."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np

from manifests.atomic import atomic_path

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_losses(metrics: Path, png: Path, title: str) -> Path:
    """Loss (and learning rate) per step from a metrics.jsonl, and validation top-1 beside it when
    the run validated; the last entry of a step wins, so resumed runs draw one line."""
    rows = {}
    for line in Path(metrics).read_text().splitlines():
        r = json.loads(line)
        rows[r["step"]] = r
    steps = sorted(rows)
    loss = np.array([rows[s]["loss"] for s in steps])
    window = max(1, len(steps) // 10)
    smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
    val = [(s, rows[s]["val_top1"]) for s in steps if rows[s].get("val_top1") is not None]
    fig, axes = plt.subplots(1, 2 if val else 1, figsize=(13 if val else 8, 4.5), squeeze=False)
    ax = axes[0, 0]
    ax.plot(steps, loss, color="#4878a8", alpha=0.3, label="loss per step")
    ax.plot(steps[window - 1 :], smooth, color="#4878a8", linewidth=2, label=f"mean of {window} steps")
    ax.legend(loc="upper right")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    lr_ax = ax.twinx()
    lr_ax.plot(steps, [rows[s]["lr"] for s in steps], color="#b55d4c", alpha=0.5, label="lr")
    lr_ax.set_ylabel("learning rate")
    if val:
        vx = axes[0, 1]
        vx.plot(*zip(*val, strict=True), marker="o", color="#3a8a4a")
        vx.set_ylim(0, 1)
        vx.set_xlabel("step")
        vx.set_ylabel("validation top-1 (single view)")
        vx.set_title(f"best {max(v for _, v in val):.3f}")
    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return png
