"""Pieces every training stage's loop shares: the schedule, restoring a run, one optimizer step,
stopping on a non-finite loss, and the checkpoint's contents."""

from __future__ import annotations

import dataclasses
import math
import random
import time
from pathlib import Path

import numpy as np
import torch

from trainer import checkpoint
from trainer.data.stream import StreamState, advance


class TrainingError(Exception):
    """Training cannot go on; the message says why and what is kept."""


def lr_at(step: int, peak: float, floor: float, warmup: int, total: int) -> float:
    """Linear warm-up, then cosine decay to `floor`, per step."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Each group's LR is `lr` times its lr_scale (layer-wise decay; 1 when absent)."""
    for g in optimizer.param_groups:
        g["lr"] = lr * g.get("lr_scale", 1.0)


def param_groups(model: torch.nn.Module, weight_decay: float, layer_decay: float = 1.0) -> list[dict]:
    """No weight decay on biases, norms, tokens and other 1-D parameters. With layer_decay < 1
    (fine-tuning), each layer's LR is scaled by decay^(depth + 1 − layer): the embedding is layer
    0, block i is layer i + 1, the norm and head after the last block are layer depth + 1."""
    depth = len(getattr(model, "blocks", ()))
    groups: dict[tuple[int, bool], dict] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        plain = p.ndim <= 1 or name.endswith(".bias") or "token" in name
        layer = _layer_of(name, depth) if layer_decay < 1 else 0
        group = groups.setdefault((layer, plain), {"params": [], "weight_decay": 0.0 if plain else weight_decay,
                                                   "lr_scale": layer_decay ** (depth + 1 - layer) if layer_decay < 1
                                                   else 1.0})
        group["params"].append(p)
    return [groups[k] for k in sorted(groups)]


def _layer_of(name: str, depth: int) -> int:
    if name.startswith("patch_embed"):
        return 0
    if name.startswith("blocks."):
        return int(name.split(".")[1]) + 1
    return depth + 1


def restore(path: Path, model_name: str, model, optimizer, scaler) -> tuple[int, StreamState, dict]:
    """Model, optimizer, scaler, RNG and data position from a checkpoint of this run."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state["config"]["model"] != model_name:
        raise TrainingError(f"{path} is a checkpoint of {state['config']['model']}, this run builds {model_name}; "
                            "use another --out or the same --model")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["rng"]["torch"])
    np.random.set_state(state["rng"]["numpy"])
    random.setstate(state["rng"]["python"])
    data = StreamState(state["data"]["batches"], {int(k): tuple(v) for k, v in state["data"]["positions"].items()})
    return state["step"], data, state


def run_state(step: int, model, optimizer, scaler, stream: StreamState, cfg, derived, **extra) -> dict:
    """Everything a resume needs, and the resolved config."""
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict() if scaler else None, "step": step,
            "data": {"batches": stream.batches, "positions": stream.positions},
            "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
            "config": dataclasses.asdict(cfg), "derived": dataclasses.asdict(derived), **extra}


def take_batch(loader, stream: StreamState) -> tuple[dict, float]:
    """The next batch, recorded as consumed (for checkpoints), and the seconds spent waiting for it."""
    t0 = time.perf_counter()
    batch = next(loader)
    waited = time.perf_counter() - t0
    advance(stream, batch)
    return batch, waited


def check_finite(loss: float, step: int, out: Path) -> None:
    if not math.isfinite(loss):
        kept = checkpoint.latest(out)
        raise TrainingError(f"loss is {loss} at step {step}; stopped without saving. The last good checkpoint "
                            f"is {kept or 'none'}; lower --lr, raise --warmup-fraction or use --precision bf16")


def optimizer_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, scaler, clip: float | None) -> float:
    """Unscale, clip (when asked), step, zero; returns the gradient norm before clipping."""
    if scaler:
        scaler.unscale_(optimizer)
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip or float("inf"))
    if scaler:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(grad_norm)
