"""The fine-tuning model of VideoMAE V2: the shared ViT trunk without its final norm, mean pooling
over tokens, fc_norm, dropout and a linear head. Names follow the released fine-tuned checkpoints
(patch_embed, blocks.N.*, fc_norm, head), so those load strictly."""

from __future__ import annotations

import torch
from torch import nn

from trainer.models.layers import init_weights
from trainer.models.vit import VideoEncoder, ViTConfig


class VideoClassifier(VideoEncoder):
    def __init__(self, cfg: ViTConfig, num_classes: int, head_dropout: float = 0.0, head_init_scale: float = 0.001):
        super().__init__(cfg, final_norm=False)  # mean pooling, then fc_norm instead
        self.num_classes = num_classes
        self.fc_norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.head_dropout = nn.Dropout(head_dropout)
        self.head = nn.Linear(cfg.dim, num_classes)
        self.apply(init_weights)
        nn.init.trunc_normal_(self.head.weight, std=0.02)
        with torch.no_grad():
            self.head.weight.mul_(head_init_scale)
            self.head.bias.mul_(head_init_scale)

    def features(self, video: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> (B, D): mean of the encoded tokens, normalized."""
        return self.fc_norm(super().forward(video).mean(dim=1))

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.head(self.head_dropout(self.features(video)))  # (B, classes)

