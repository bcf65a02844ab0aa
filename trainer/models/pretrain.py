"""The VideoMAE V2 pretraining model: a ViT encoder over the visible tokens and a light decoder
that rebuilds the pixels of the tokens the decoder keeps (dual masking). Reads top to bottom:
encoder, decoder, the model that joins them, then the loss.

Shapes: B batch, C=3 channels, T frames, N = T/tubelet · (H/p) · (W/p) tokens, D widths.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.utils.checkpoint as checkpoint
from torch import nn

from trainer.models.layers import Block, TubeletEmbed, drop_path_rates, init_weights, sincos_table


@dataclass(frozen=True)
class ViTConfig:
    patch: int = 16
    tubelet: int = 2
    frames: int = 16
    img_size: int = 224
    in_chans: int = 3
    dim: int = 768
    depth: int = 12
    heads: int = 12
    mlp_ratio: float = 4.0
    decoder_dim: int = 384
    decoder_depth: int = 4
    decoder_heads: int = 6
    drop_path: float = 0.0
    init_values: float = 0.0
    grad_checkpointing: bool = False

    @property
    def tokens(self) -> int:
        return (self.frames // self.tubelet) * (self.img_size // self.patch) ** 2

    @property
    def pixels_per_token(self) -> int:
        return self.in_chans * self.tubelet * self.patch**2


def encoder_blocks(cfg: ViTConfig) -> nn.ModuleList:
    """The encoder's transformer blocks, with stochastic depth growing along them."""
    return nn.ModuleList(Block(cfg.dim, cfg.heads, cfg.mlp_ratio, drop_path=r, init_values=cfg.init_values)
                         for r in drop_path_rates(cfg.drop_path, cfg.depth))


def _run(blocks: nn.ModuleList, x: torch.Tensor, use_checkpointing: bool) -> torch.Tensor:
    for blk in blocks:
        x = checkpoint.checkpoint(blk, x, use_reentrant=False) if use_checkpointing and x.requires_grad else blk(x)
    return x


class Encoder(nn.Module):
    """patch_embed → + fixed positions → keep visible tokens → blocks → norm."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.cfg = cfg
        self.patch_embed = TubeletEmbed(cfg.patch, cfg.tubelet, cfg.in_chans, cfg.dim)
        self.register_buffer("pos_embed", sincos_table(cfg.tokens, cfg.dim), persistent=False)
        self.blocks = encoder_blocks(cfg)
        self.norm = nn.LayerNorm(cfg.dim, eps=1e-6)

    def forward(self, video: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(video) + self.pos_embed  # (B, N, D)
        b, _, d = x.shape
        x = x[~hidden].reshape(b, -1, d)  # (B, N_vis, D): every sample hides as many tokens
        return self.norm(_run(self.blocks, x, self.cfg.grad_checkpointing))


class Decoder(nn.Module):
    """blocks → norm → head to pixels, over visible tokens + mask tokens."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.cfg = cfg
        self.blocks = nn.ModuleList(Block(cfg.decoder_dim, cfg.decoder_heads, cfg.mlp_ratio)
                                    for _ in range(cfg.decoder_depth))
        self.norm = nn.LayerNorm(cfg.decoder_dim, eps=1e-6)
        self.head = nn.Linear(cfg.decoder_dim, cfg.pixels_per_token)

    def forward(self, x: torch.Tensor, predicted: int) -> torch.Tensor:
        x = _run(self.blocks, x, self.cfg.grad_checkpointing)
        return self.head(self.norm(x[:, -predicted:]))  # (B, N_pred, pixels per token)


class PretrainViT(nn.Module):
    """Dual masking: the encoder sees the visible tokens; the decoder sees those plus mask tokens
    at the positions the decoder keeps, and predicts pixels for those positions."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.encoder_to_decoder = nn.Linear(cfg.dim, cfg.decoder_dim, bias=False)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.decoder_dim))
        self.register_buffer("pos_embed", sincos_table(cfg.tokens, cfg.decoder_dim), persistent=False)
        self.apply(init_weights)
        nn.init.trunc_normal_(self.mask_token, std=0.02, a=-0.02, b=0.02)

    def forward(self, video: torch.Tensor, hidden: torch.Tensor, not_decoded: torch.Tensor) -> torch.Tensor:
        """video (B, C, T, H, W); hidden, not_decoded (B, N) bool. Returns (B, N_dec, pixels)
        for the decoder-kept positions, in token order."""
        x = self.encoder_to_decoder(self.encoder(video, hidden))  # (B, N_vis, D_dec)
        b, _, d = x.shape
        pos = self.pos_embed.expand(b, -1, -1)
        decoded = pos[~not_decoded].reshape(b, -1, d)  # (B, N_dec, D_dec)
        x = torch.cat([x + pos[~hidden].reshape(b, -1, d), self.mask_token + decoded], dim=1)
        return self.decoder(x, decoded.shape[1])


# ---- loss -------------------------------------------------------------------------------------

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
