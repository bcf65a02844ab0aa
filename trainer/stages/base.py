"""What a stage supplies to the one training loop (run_stage): its model, its objective, its
data, and what happens after a step. Everything else (set-up, optimizer, schedule, precision,
accumulation, clipping, DDP, resume, metrics, checkpoints, curves) is the loop's."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader

from trainer.data.shards import resolve_shards
from trainer.data.stream import StreamState
from trainer.distributed import Dist
from trainer.objectives.base import Objective


class Trainee(nn.Module):
    """The model and its objective as one module, so that DDP wraps (and syncs) both: a step is
    trainee(batch) -> (loss, parts)."""

    def __init__(self, model: nn.Module, objective: Objective):
        super().__init__()
        self.model, self.objective = model, objective

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict]:
        return self.objective(self.model, batch)


class Stage:
    title = "stage"

    def __init__(self, cfg):
        self.cfg = cfg

    def shards(self) -> tuple[list[str], int | None]:
        """Training shard URLs and the clip count when known; checks the data before anything else."""
        return resolve_shards(list(self.cfg.shards))

    def build_model(self) -> nn.Module:
        raise NotImplementedError

    def initialize(self, model: nn.Module) -> str:
        """Weights of a new run (not a resumed one); returns what was loaded, for the first line."""
        return "new model (random weights)"

    def build_objective(self, model: nn.Module, env: Dist) -> Objective:
        raise NotImplementedError

    def param_groups(self, trainee: Trainee) -> list[dict]:
        raise NotImplementedError

    def loader(self, urls: list[str], env: Dist, stream: StreamState) -> DataLoader:
        raise NotImplementedError

    def describe(self, urls: list[str], clips: int | None) -> str:
        return f"vmae {self.title} {self.cfg.model}: {len(urls)} shards, {clips if clips is not None else '?'} clips"

    def flops_per_clip(self, trainee: Trainee, world: int = 1) -> float | None:
        """Model FLOPs of one training clip (trainer/measure/flops.py) for the MFU in the metrics,
        on a run of `world` ranks; None where no count is written."""
        return None

    def after_step(self, step: int, trainee: Trainee, env: Dist, last: bool) -> dict:
        """After each optimizer step (EMA, validation, best checkpoint); returns metrics to log."""
        return {}

    def extra_state(self) -> dict:
        """What this stage adds to each checkpoint (labels, best, EMA weights)."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        """Take back what extra_state wrote, on resume."""

    def result(self) -> dict:
        """What this stage adds to the run's summary."""
        return {}
