"""Pictures of retrieval for people who would rather look: rows of a query and the clips it ranks
first (their middle frames, with scores), for the retrieval evaluation (the right answer framed in
green) and for search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

Tile = tuple[torch.Tensor, str, bool]  # (3, S, S) uint8 frame, its label, whether to frame it in green


def contact_sheet(rows: list[tuple[str, list[Tile]]], title: str, out: Path) -> Path:
    """A PNG with one row per query: its text on the left, then its tiles."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = max(len(tiles) for _, tiles in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(2.2 * cols + 1.5, 2.5 * len(rows)), squeeze=False)
    for r, (query, tiles) in enumerate(rows):
        for c in range(cols):
            ax = axes[r, c]
            ax.set_xticks([]), ax.set_yticks([])
            if c >= len(tiles):
                ax.axis("off")
                continue
            frame, label, right = tiles[c]
            ax.imshow(frame.permute(1, 2, 0).numpy())
            for side in ax.spines.values():
                side.set_edgecolor("green" if right else "lightgray")
                side.set_linewidth(4 if right else 1)
            ax.set_title(label, fontsize=7)
        axes[r, 0].set_ylabel(query[:40], fontsize=8, rotation=0, ha="right", va="center")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out


def query_sheet(emb, out: Path, queries: int = 4, top: int = 5) -> Path:
    """retrieval.png: `queries` captions spread over the set, each with its `top` videos."""
    t2v = (emb.text @ emb.video.T).float().numpy()
    picked = np.linspace(0, len(emb.captions) - 1, min(queries, len(emb.captions))).round().astype(int)
    rows = []
    for q in picked:
        order = np.argsort(-t2v[q])[:top]
        rows.append((emb.captions[q], [(emb.thumbs[v], f"{t2v[q, v]:.2f}", v == emb.owner[q]) for v in order]))
    return contact_sheet(rows, "text-to-video: each caption's top videos (the right one framed in green)", out)
