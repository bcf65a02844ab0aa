"""The video ViT trunk that every model shares: tubelet embedding, fixed sine-cosine positions,
transformer blocks (with gradient checkpointing), and a final norm where the model has one.
The pretraining model holds it as `encoder`; the classifier is this trunk plus a pooled head.

Shapes: B batch, C=3 channels, T frames, N = T/tubelet · (H/p) · (W/p) tokens, D width.
"""

from __future__ import annotations

import torch
import torch.utils.checkpoint as checkpoint
from torch import nn

from trainer.models.layers import Block, TubeletEmbed, drop_path_rates, sincos_table
from trainer.models.sizes import ViTConfig


def run_blocks(blocks: nn.ModuleList, x: torch.Tensor, use_checkpointing: bool,
               keep_last: int = 0) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """x through every block; with checkpointing each block's activations are recomputed in the
    backward pass instead of kept. Also returns the outputs of the last `keep_last` blocks."""
    kept = []
    for i, blk in enumerate(blocks):
        x = checkpoint.checkpoint(blk, x, use_reentrant=False) if use_checkpointing and x.requires_grad else blk(x)
        if i >= len(blocks) - keep_last:
            kept.append(x)
    return x, kept


class VideoEncoder(nn.Module):
    """patch_embed → + fixed positions → keep the visible tokens → blocks → norm (if any)."""

    def __init__(self, cfg: ViTConfig, final_norm: bool = True):
        super().__init__()
        self.cfg = cfg
        self.patch_embed = TubeletEmbed(cfg.patch, cfg.tubelet, cfg.in_chans, cfg.dim)
        # rebuilt for the run's frames and size: a fixed table is a constant, not a parameter
        self.register_buffer("pos_embed", sincos_table(cfg.tokens, cfg.dim), persistent=False)
        self.blocks = nn.ModuleList(Block(cfg.dim, cfg.heads, cfg.mlp_ratio, drop_path=r, init_values=cfg.init_values)
                                    for r in drop_path_rates(cfg.drop_path, cfg.depth))
        self.norm = nn.LayerNorm(cfg.dim, eps=1e-6) if final_norm else None

    def encode(self, video: torch.Tensor, hidden: torch.Tensor | None = None, keep_last: int = 0,
               pos: torch.Tensor | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(B, C, T, H, W) and optionally hidden (B, N) bool -> (B, N_vis, D) tokens after the
        blocks (not normed), and the outputs of the last `keep_last` blocks. `pos` replaces the
        position table for inputs of another length (an image: one tubelet)."""
        x = self.patch_embed(video) + (self.pos_embed if pos is None else pos)  # (B, N, D)
        if hidden is not None:
            b, _, d = x.shape
            x = x[~hidden].reshape(b, -1, d)  # (B, N_vis, D): every sample hides as many tokens
        return run_blocks(self.blocks, x, self.cfg.grad_checkpointing, keep_last)

    def forward(self, video: torch.Tensor, hidden: torch.Tensor | None = None) -> torch.Tensor:
        x, _ = self.encode(video, hidden)
        return self.norm(x) if self.norm is not None else x
