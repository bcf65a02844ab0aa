"""Stage 1's objective: a weighted sum of PretrainParts (mae, umt, or both) over one shared pass
of the encoder. Order of a step: targets and masks without gradients (a teacher may pick the
encoder's mask), then the encoder over the visible tokens, then every part's loss."""

from __future__ import annotations

import importlib

import torch
from torch import nn

from trainer.data.augment import to_model_input
from trainer.objectives.base import Encoded, Objective, PretrainPart
from trainer.objectives.options import PRETRAIN, ObjectiveOptions, part_names


def implementation(options: type[ObjectiveOptions]) -> type:
    """The class an options class names as its objective ("module:Class")."""
    module, _, name = options.implementation.partition(":")
    return getattr(importlib.import_module(module), name)


def pretrain_objective(cfg, model: nn.Module, device: torch.device) -> PretrainObjective:
    """Stage 1's objective for a PretrainConfig: its parts, each built from the config."""
    parts = {name: implementation(PRETRAIN[name]).build(cfg, model, device) for name in part_names(cfg.objective)}
    return PretrainObjective(parts, dict(cfg.objective_weights))


class PretrainObjective(Objective):
    def __init__(self, parts: dict[str, PretrainPart], weights: dict[str, float]):
        super().__init__()
        self.parts = nn.ModuleDict(parts)
        self.weights = {name: float(weights.get(name, 1.0)) for name in parts}
        self.frozen = tuple(f"parts.{name}.{f}" for name, p in parts.items() for f in p.frozen)
        self.keep_last = max(p.layers for p in parts.values())
        self.decodes = any(p.needs_decoder for p in parts.values())

    def forward(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
        batch["input"], batch["pixels"] = to_model_input(batch["video"])
        with torch.no_grad():
            for part in self.parts.values():
                part.prepare(batch)
        if self.decodes and "not_decoded" not in batch:  # decoder ratio 0 under a semantic mask
            batch["not_decoded"] = ~batch["hidden"]
        encoder = model.encoder
        x, layers = encoder.encode(batch["input"], batch["hidden"], self.keep_last)
        encoded = Encoded(encoder.norm(x), [encoder.norm(y) for y in layers])
        losses = {name: part.loss(model, encoded, batch) for name, part in self.parts.items()}
        total = sum(self.weights[name] * loss for name, loss in losses.items())
        return total, ({f"loss_{name}": loss.detach() for name, loss in losses.items()} if len(losses) > 1 else {})
