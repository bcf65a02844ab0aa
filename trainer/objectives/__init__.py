"""Training objectives, as files: stage 1's losses (mae, umt; a weighted sum such as mae+umt
shares one encoder pass) and the supervised objective of stages 2 and 3. A new stage-1 loss is
one file with a PretrainPart and one line here."""

from __future__ import annotations

import torch
from torch import nn

from trainer.objectives.base import Objective, PretrainPart
from trainer.objectives.mae import MAE
from trainer.objectives.pretraining import PretrainObjective
from trainer.objectives.supervised import Supervised
from trainer.objectives.umt import UMT

PRETRAIN_PARTS: dict[str, type[PretrainPart]] = {
    "mae": MAE,
    "umt": UMT,
}


def part_names(objective: str) -> list[str]:
    """'mae+umt' -> ['mae', 'umt'], checked against the registry."""
    names = [n.strip() for n in objective.split("+")]
    unknown = [n for n in names if n not in PRETRAIN_PARTS]
    if unknown or len(set(names)) != len(names):
        raise ValueError(f"objective {objective!r}: give one or more of {', '.join(PRETRAIN_PARTS)} joined by '+', "
                         "each once (e.g. mae, umt, mae+umt)")
    return names


def needs_decoder(objective: str) -> bool:
    return any(PRETRAIN_PARTS[n].needs_decoder for n in part_names(objective))


def pretrain_objective(cfg, model: nn.Module, device: torch.device) -> PretrainObjective:
    parts = {name: PRETRAIN_PARTS[name].build(cfg, model, device) for name in part_names(cfg.objective)}
    return PretrainObjective(parts, dict(cfg.objective_weights))


__all__ = ["PRETRAIN_PARTS", "Objective", "PretrainObjective", "Supervised", "needs_decoder", "part_names",
           "pretrain_objective"]
