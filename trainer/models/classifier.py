"""The fine-tuning model of VideoMAE V2: the same encoder, mean pooling over tokens, fc_norm,
dropout and a linear head. Names follow the released fine-tuned checkpoints (patch_embed,
blocks.N.*, fc_norm, head; the final norm is unused with mean pooling and has no parameters),
so those load strictly."""

from __future__ import annotations

import torch
from torch import nn

from trainer.models.layers import TubeletEmbed, init_weights, sincos_table
from trainer.models.pretrain import ViTConfig, encoder_blocks


class VideoClassifier(nn.Module):
    def __init__(self, cfg: ViTConfig, num_classes: int, head_dropout: float = 0.0, head_init_scale: float = 0.001):
        super().__init__()
        self.cfg, self.num_classes = cfg, num_classes
        self.patch_embed = TubeletEmbed(cfg.patch, cfg.tubelet, cfg.in_chans, cfg.dim)
        # rebuilt for the run's frames and size: a fixed table needs no interpolation
        self.register_buffer("pos_embed", sincos_table(cfg.tokens, cfg.dim), persistent=False)
        self.blocks = encoder_blocks(cfg)
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
        x = self.patch_embed(video) + self.pos_embed  # (B, N, D)
        for blk in self.blocks:
            x = blk(x)
        return self.fc_norm(x.mean(dim=1))

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.head(self.head_dropout(self.features(video)))  # (B, classes)


def encoder_state(pretrain_state: dict) -> dict:
    """The encoder weights of a pretraining state dict, named as the classifier names them
    (encoder.norm is dropped: the classifier pools and uses fc_norm instead)."""
    return {k.removeprefix("encoder."): v for k, v in pretrain_state.items()
            if k.startswith("encoder.") and not k.startswith("encoder.norm.")}


def slice_head(model: VideoClassifier, state: dict, index: list[int]) -> None:
    """Load a classifier state dict whose head has more classes (e.g. K710), keeping the rows
    `index` (e.g. label_maps/k400.json's 'index': the K400 classes in K400 order)."""
    sliced = dict(state)
    sliced["head.weight"] = state["head.weight"][index]
    sliced["head.bias"] = state["head.bias"][index]
    model.load_state_dict(sliced, strict=True)
