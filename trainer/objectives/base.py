"""What an objective is. Every objective is a module whose forward(model, batch) returns the
step's loss and its named parts; run_stage calls it inside DDP and autocast. Its trainable
parameters (e.g. UMT's alignment heads) train and are checkpointed with the model; its frozen
parts (teachers) are neither, since they come from their own files.

Stage 1's losses are PretrainParts: each prepares targets without gradients (and may choose the
encoder's mask), then scores one shared pass of the encoder, so a weighted sum of them (mae+umt)
costs one encoder pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from trainer.errors import CheckpointError


class Objective(nn.Module):
    frozen: tuple[str, ...] = ()  # names of submodules that are neither trained nor checkpointed

    def forward(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def step_facts(self) -> dict:
        """What the built objective knows that its FLOPs depend on (trainer.measure.flops.StepShape's
        fields: a teacher's shape, …); its options count them (ObjectiveOptions.flops)."""
        return {}

    def _is_frozen(self, key: str) -> bool:
        return any(key == f or key.startswith(f + ".") for f in self.frozen)

    def checkpoint_state(self) -> dict:
        return {k: v for k, v in self.state_dict().items() if not self._is_frozen(k)}

    def load_checkpoint_state(self, state: dict) -> None:
        missing, unexpected = self.load_state_dict(state, strict=False)
        missing = [k for k in missing if not self._is_frozen(k)]
        if missing or unexpected:
            raise CheckpointError(f"the checkpoint's objective state does not fit this run's objective: missing "
                                  f"{missing[:5]}, unexpected {unexpected[:5]}; use the same --objective")


@dataclass
class Encoded:
    """One pass of the encoder over the visible tokens, shared by every part of stage 1's loss."""

    final: torch.Tensor  # (B, N_vis, D) after the final norm
    layers: list[torch.Tensor]  # outputs of the last blocks, each (B, N_vis, D), after the final norm


class PretrainPart(nn.Module):
    name = ""
    needs_decoder = False  # the model keeps its pixel decoder
    layers = 0  # how many of the encoder's last blocks it reads
    frozen: tuple[str, ...] = ()

    def step_facts(self) -> dict:
        """As Objective.step_facts, for one part of stage 1's loss."""
        return {}

    @classmethod
    def build(cls, cfg, model: nn.Module, device: torch.device) -> PretrainPart:
        """This part for a stage-1 config (trainer.config.PretrainConfig) and its model."""
        raise NotImplementedError

    def prepare(self, batch: dict) -> None:
        """Targets, computed without gradients; may set batch["hidden"] (semantic masking)."""

    def loss(self, model: nn.Module, encoded: Encoded, batch: dict) -> torch.Tensor:
        raise NotImplementedError
