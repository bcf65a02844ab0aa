"""Where a run keeps its checkpoints: ckpt-NNNNNNNN.pt files (ckpt-NNNNNNNN/ folders when it shards
its weights) and best.pt; finding the newest, dropping the oldest, and resolving what a user
names (a file, a sharded folder, a transformers folder, or a run folder)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from trainer.checkpoint import hf, sharded
from trainer.errors import CheckpointError

BEST = "best.pt"
_NAME = re.compile(r"^ckpt-(\d{8})(\.pt)?$")


def checkpoints(out: Path) -> list[Path]:
    """A run's checkpoints, oldest first: files, and the folders of sharded ones."""
    found = [p for p in Path(out).glob("ckpt-*") if _NAME.match(p.name) and (p.is_file() or sharded.is_sharded(p))]
    return sorted(found, key=lambda p: p.name.removesuffix(".pt"))


def latest(out: Path) -> Path | None:
    found = checkpoints(out)
    return found[-1] if found else None


def prune(out: Path, keep: int) -> None:
    """Drop all but the newest `keep` checkpoints, and what a run killed while writing one left."""
    for old in checkpoints(out)[:-keep]:
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    for partial in out.glob(".ckpt-*.tmp"):
        shutil.rmtree(partial) if partial.is_dir() else partial.unlink()


def resolve(path: str | Path) -> Path:
    """A checkpoint file or sharded checkpoint folder, or a run folder's newest checkpoint."""
    path = Path(path)
    if path.is_dir() and not sharded.is_sharded(path) and not hf.is_folder(path):
        found = latest(path)
        if found is None:
            raise CheckpointError(f"{path} holds no checkpoints (ckpt-*.pt, ckpt-*/) and is not a transformers folder "
                                  "(config.json and weights); give a checkpoint file or a finished run")
        return found
    return path
