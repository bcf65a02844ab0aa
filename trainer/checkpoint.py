"""Atomic checkpoints with everything a resume needs, and finding the newest one."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from manifests.atomic import atomic_path

_NAME = re.compile(r"^ckpt-(\d{8})\.pt$")


def checkpoints(out: Path) -> list[Path]:
    return sorted(p for p in Path(out).glob("ckpt-*.pt") if _NAME.match(p.name))


def latest(out: Path) -> Path | None:
    found = checkpoints(out)
    return found[-1] if found else None


def save(out: Path, step: int, state: dict, keep: int) -> Path:
    """Write ckpt-{step}.pt under a temporary name, rename it into place, then drop the oldest
    beyond `keep`: a crash at any moment leaves the last good checkpoint intact."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"ckpt-{step:08d}.pt"
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    for old in checkpoints(out)[:-keep]:
        old.unlink()
    return path


def unwrap_state_dict(state: dict) -> dict:
    """A model state dict from our checkpoints or released ones ('model' / 'module' wrappers)."""
    for key in ("model", "module", "state_dict"):
        if key in state and isinstance(state[key], dict):
            state = state[key]
    return {k.removeprefix("module."): v for k, v in state.items()}
