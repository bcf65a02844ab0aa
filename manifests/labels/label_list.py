"""Label list files: one class name per line, in label-id order."""

from __future__ import annotations

from collections import Counter
from pathlib import Path


def read_label_list(path: str | Path) -> list[str]:
    """One class name per line; blank lines ignored, order kept."""
    names = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    counts = Counter(names)
    if len(counts) != len(names):
        dup = sorted(n for n, c in counts.items() if c > 1)
        raise ValueError(f"{path}: class names listed twice: {dup[:5]}")
    return names
