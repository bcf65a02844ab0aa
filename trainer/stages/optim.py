"""The optimizer side of every stage: AdamW parameter groups (no decay on 1-D parameters,
layer-wise LR decay), the per-step schedule (linear warm-up, then cosine), and one optimizer step."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.distributed.tensor import DTensor


def lr_at(step: int, peak: float, floor: float, warmup: int, total: int) -> float:
    """Linear warm-up, then cosine decay to `floor`, per step. The floor is never above the peak:
    an LR set under the default floor (1e-6) stays flat instead of rising after its first step."""
    floor = min(floor, peak)
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Each group's LR is `lr` times its lr_scale (layer-wise decay; 1 when absent)."""
    for g in optimizer.param_groups:
        g["lr"] = lr * g.get("lr_scale", 1.0)


def param_groups(named: list[tuple[str, torch.nn.Parameter]], depth: int, weight_decay: float,
                 layer_decay: float = 1.0) -> list[dict]:
    """No weight decay on biases, norms, tokens and other 1-D parameters. With layer_decay < 1
    (fine-tuning), each layer's LR is scaled by decay^(depth + 1 − layer): the embedding is layer
    0, block i is layer i + 1, the norm and head after the last block are layer depth + 1. Names
    are the model's own (patch_embed…, blocks.N…)."""
    groups: dict[tuple[int, bool], dict] = {}
    for name, p in named:
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


def optimizer_step(params, optimizer: torch.optim.Optimizer, scaler, clip: float | None,
                   apply: Callable[[float], bool] = math.isfinite) -> float:
    """Unscale, clip (when asked), step unless `apply(gradient norm)` says no, zero; returns the
    gradient norm before clipping. A step not applied still lowers an fp16 loss scale."""
    if scaler:
        scaler.unscale_(optimizer)
    grad_norm = torch.nn.utils.clip_grad_norm_(params, clip or float("inf"))
    if isinstance(grad_norm, DTensor):  # FSDP: the norm over every rank's shards
        grad_norm = grad_norm.full_tensor()
    grad_norm = float(grad_norm)
    if not apply(grad_norm):
        optimizer.zero_grad(set_to_none=True)
        if scaler:
            scaler.update(scaler.get_scale() / 2)
        return grad_norm
    if scaler:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return grad_norm
