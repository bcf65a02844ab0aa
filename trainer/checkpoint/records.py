"""A run's records: what each checkpoint of a run holds (the model's record, optimizer, scaler,
data position, RNG, config), writing it atomically, best.pt, and restoring a run from one."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import numpy as np
import torch

from trainer.checkpoint import sharded
from trainer.checkpoint.disk import save_torch
from trainer.checkpoint.files import FORMAT, VERSION, load_file
from trainer.checkpoint.folders import BEST, prune
from trainer.data.stream import StreamState
from trainer.errors import CheckpointError, TrainingError
from trainer.models.families import family_of


def model_record(model: torch.nn.Module, name: str, state: dict | None = None) -> dict:
    """What rebuilds and reloads `model`: its family, size name, ViTConfig arguments and weights
    (`state`, when they are not the module's own: gathered from FSDP shards)."""
    spec = family_of(model)
    return {"format": FORMAT, "version": VERSION, "kind": spec.name, "model_name": name,
            "model_args": dataclasses.asdict(model.cfg), "num_classes": getattr(model, "num_classes", 0),
            "family_args": spec.args_of(model),
            "model": model.state_dict() if state is None else state}


def _rng_state() -> dict:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"torch": torch.get_rng_state(), "python": random.getstate(),
            "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached": float(cached)}}


def restore_rng(rng: dict) -> None:
    torch.set_rng_state(rng["torch"])
    random.setstate(rng["python"])
    n = rng["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))


def run_record(step: int, trainee, optimizer, scaler, stream: StreamState, cfg, derived, **extra) -> dict:
    """Everything a resume needs, and the resolved config. A sharded run's weights and optimizer
    state are not in it: every rank writes its shards of them (sharded.save)."""
    record = {**model_record(trainee.model, cfg.model, {} if cfg.fsdp else None),
              "scaler": scaler.state_dict() if scaler else None, "step": step,
              "data": {"batches": stream.batches, "positions": stream.positions}, "rng": _rng_state(),
              "config": dataclasses.asdict(cfg), "derived": dataclasses.asdict(derived), **extra}
    if not cfg.fsdp:
        record |= {"objective": trainee.objective.checkpoint_state(), "optimizer": optimizer.state_dict()}
    return record


def save(out: Path, step: int, record: dict, keep: int) -> Path:
    """Write ckpt-{step}.pt under a temporary name, rename it into place, then drop the oldest
    beyond `keep`: a crash at any moment leaves the last good checkpoint intact."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"ckpt-{step:08d}.pt"
    save_torch(record, path)
    prune(out, keep)
    return path


def save_best(out: Path, model: torch.nn.Module, cfg, state: dict | None = None, **extra) -> Path:
    """best.pt: the model record of the best validated model, with the run's config."""
    save_torch({**model_record(model, cfg.model, state), "config": dataclasses.asdict(cfg), **extra}, out / BEST)
    return out / BEST


def restore(path: Path, cfg, trainee, optimizer, scaler) -> tuple[int, StreamState, dict]:
    """Model, objective, optimizer, scaler and data position from a checkpoint of this run (a
    sharded one is resharded to this run's ranks); its RNG state is left to restore_rng, once the
    loader has started (starting it draws from torch's generator)."""
    folder = sharded.is_sharded(path)
    if cfg.fsdp and not folder:
        raise TrainingError(f"{path} was written without --fsdp: resume this run without --fsdp, or start a new "
                            f"--out with --init {path}")
    state = load_file(path / sharded.RECORD) if folder else load_file(path)
    if state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a checkpoint of a vmae run; move it out of {path.parent}")
    if state["model_name"] != cfg.model:
        raise TrainingError(f"{path} is a checkpoint of {state['model_name']}, this run builds {cfg.model}; "
                            "use another --out or the same --model")
    if folder:
        sharded.restore(path, trainee, optimizer, state)
    else:
        trainee.model.load_state_dict(state["model"])
        trainee.objective.load_checkpoint_state(state.get("objective") or {})
        optimizer.load_state_dict(state["optimizer"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    data = StreamState(state["data"]["batches"], {int(k): tuple(v) for k, v in state["data"]["positions"].items()})
    return state["step"], data, state
