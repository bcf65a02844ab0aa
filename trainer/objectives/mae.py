"""mae: VideoMAE V2's pixel reconstruction with dual masking. The encoder sees the tokens its tube
mask keeps; the decoder rebuilds the positions its running-cell mask keeps; the loss is the MSE on
per-tubelet normalized pixels of tokens hidden from the encoder and kept by the decoder."""

from __future__ import annotations

import torch
from torch import nn

from trainer.objectives.base import Encoded, PretrainPart


def patch_targets(video01: torch.Tensor, patch: int, tubelet: int) -> torch.Tensor:
    """(B, C, T, H, W) pixels in [0, 1] -> (B, N, tubelet·p·p·C), each token normalized by the mean
    and standard deviation of its own pixels (per channel), as VideoMAE's loss wants."""
    b, c, t, h, w = video01.shape
    x = video01.reshape(b, c, t // tubelet, tubelet, h // patch, patch, w // patch, patch)
    x = x.permute(0, 2, 4, 6, 3, 5, 7, 1).reshape(b, -1, tubelet * patch * patch, c)  # (B, N, pix, C)
    x = (x - x.mean(dim=-2, keepdim=True)) / (x.var(dim=-2, unbiased=True, keepdim=True).sqrt() + 1e-6)
    return x.flatten(2)


def reconstruction_loss(pred: torch.Tensor, targets: torch.Tensor, hidden: torch.Tensor,
                        not_decoded: torch.Tensor) -> torch.Tensor:
    """MSE over the tokens hidden from the encoder and kept by the decoder. pred holds the
    decoder-kept positions in token order; targets all N tokens."""
    b = pred.shape[0]
    kept_targets = targets[~not_decoded].reshape(b, -1, targets.shape[-1])
    weight = hidden[~not_decoded].reshape(b, -1).float()  # 1 where the encoder did not see it
    per_token = ((pred.float() - kept_targets) ** 2).mean(dim=-1)
    return (per_token * weight).sum() / weight.sum().clamp(min=1)


class MAE(PretrainPart):
    name = "mae"
    needs_decoder = True

    def __init__(self, patch: int, tubelet: int):
        super().__init__()
        self.patch, self.tubelet = patch, tubelet

    @classmethod
    def build(cls, cfg, model: nn.Module, device: torch.device) -> MAE:
        return cls(cfg.data.patch, cfg.data.tubelet)

    def loss(self, model: nn.Module, encoded: Encoded, batch: dict) -> torch.Tensor:
        hidden, not_decoded = batch["hidden"], batch["not_decoded"]
        pred = model.decode(encoded.final, hidden, not_decoded)
        return reconstruction_loss(pred, patch_targets(batch["pixels"], self.patch, self.tubelet), hidden, not_decoded)
