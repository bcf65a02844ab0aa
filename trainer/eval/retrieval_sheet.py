"""A picture of retrieval for people who would rather look: a few caption queries, each with the
videos it ranks first (their middle frames) and the scores; the right answer framed in green."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def query_sheet(emb, out: Path, queries: int = 4, top: int = 5) -> Path:
    """retrieval.png: `queries` captions spread over the set, each with its `top` videos."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t2v = (emb.text @ emb.video.T).float().numpy()
    picked = np.linspace(0, len(emb.captions) - 1, min(queries, len(emb.captions))).round().astype(int)
    top = min(top, t2v.shape[1])
    fig, axes = plt.subplots(len(picked), top, figsize=(2.2 * top, 2.5 * len(picked)), squeeze=False)
    for row, q in enumerate(picked):
        order = np.argsort(-t2v[q])[:top]
        for col, v in enumerate(order):
            ax = axes[row, col]
            ax.imshow(emb.thumbs[v].permute(1, 2, 0).numpy())
            ax.set_xticks([]), ax.set_yticks([])
            right = v == emb.owner[q]
            for side in ax.spines.values():
                side.set_edgecolor("green" if right else "lightgray")
                side.set_linewidth(4 if right else 1)
            ax.set_title(f"{t2v[q, v]:.2f}", fontsize=8)
        axes[row, 0].set_ylabel(emb.captions[q][:40], fontsize=8, rotation=0, ha="right", va="center")
    fig.suptitle("text-to-video: each caption's top videos (the right one framed in green)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out
