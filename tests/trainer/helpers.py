"""Helpers shared by the trainer's tests (test modules never import each other)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from trainer.data.config import Geometry
from trainer.data.masking import dual_mask
from trainer.models.registry import create_classifier

VMAE = str(Path(sys.executable).parent / "vmae")


def losses(out: Path) -> dict[int, float]:
    """A run's loss by step, from its metrics."""
    rows = {}
    for line in (out / "metrics.jsonl").read_text().splitlines():
        r = json.loads(line)
        rows[r["step"]] = r["loss"]
    return rows


def torchrun(nproc: int, *args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
            "--no-python", VMAE, *args]


def run(cmd: list[str], timeout: int = 240) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-3000:])
    return done


def vl_settings(vl_data: dict, out: Path, **kw) -> dict:
    """Settings of a tiny video-language run on the vl_data fixture's corpora."""
    return {"shards": [str(vl_data["videos"])], "image_shards": [str(vl_data["images"])], "out": str(out),
            "init": str(vl_data["student"]), "text_weights": str(vl_data["bert"]), "fusion_layers": 1,
            "teacher": "clip_test", "teacher_weights": "random", "align_layers": 2, "batch_size": 4, "lr": 2e-3,
            "warmup_fraction": 0.1, "ckpt_every": 3, "data": {"img_size": 32, "workers": 1, "shuffle_buffer": 8},
            **kw}


class RunsCode:
    """Pickles as a call of os.system: loading it with plain pickle would create the marker."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def evil_file(path: Path, marker: Path) -> Path:
    """A checkpoint whose plain unpickling would run code (touch `marker`)."""
    torch.save({"model": create_classifier("vit_test", 3).state_dict(), "extra": RunsCode(marker)}, path)
    return path


def masks(cfg, batch: int, enc: float = 0.75, dec: float = 0.5, seed: int = 0) -> tuple:
    """Dual masks (encoder, decoder) of a batch, as the loader draws them."""
    grid = Geometry(frames=cfg.frames, img_size=cfg.img_size, patch=cfg.patch, tubelet=cfg.tubelet)
    rng = np.random.default_rng(seed)
    ms = [dual_mask(grid, enc, dec, rng) for _ in range(batch)]
    return torch.from_numpy(np.stack([m.encoder for m in ms])), torch.from_numpy(np.stack([m.decoder for m in ms]))
