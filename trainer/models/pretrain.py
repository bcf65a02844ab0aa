"""The VideoMAE V2 pretraining model: the ViT trunk as encoder over the visible tokens, and a light
decoder that rebuilds the pixels of the tokens the decoder keeps (dual masking). A UMT student is
the same model without a decoder (decoder_depth 0). The reconstruction loss lives with the
objective (trainer/objectives/mae.py).

Shapes: B batch, C=3 channels, T frames, N tokens, D widths.
"""

from __future__ import annotations

import torch
from torch import nn

from trainer.models.layers import Block, init_weights, sincos_table
from trainer.models.vit import VideoEncoder, ViTConfig, run_blocks


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
        x, _ = run_blocks(self.blocks, x, self.cfg.grad_checkpointing)
        return self.head(self.norm(x[:, -predicted:]))  # (B, N_pred, pixels per token)


class PretrainViT(nn.Module):
    """Dual masking: the encoder sees the visible tokens; the decoder sees those plus mask tokens
    at the positions the decoder keeps, and predicts pixels for those positions."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = VideoEncoder(cfg)
        if cfg.decoder_depth > 0:
            self.decoder = Decoder(cfg)
            self.encoder_to_decoder = nn.Linear(cfg.dim, cfg.decoder_dim, bias=False)
            self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.decoder_dim))
            self.register_buffer("pos_embed", sincos_table(cfg.tokens, cfg.decoder_dim), persistent=False)
        self.apply(init_weights)
        if cfg.decoder_depth > 0:
            nn.init.trunc_normal_(self.mask_token, std=0.02, a=-0.02, b=0.02)

    @property
    def has_decoder(self) -> bool:
        return self.cfg.decoder_depth > 0

    def decode(self, encoded: torch.Tensor, hidden: torch.Tensor, not_decoded: torch.Tensor) -> torch.Tensor:
        """encoded (B, N_vis, D) normed encoder output -> (B, N_dec, pixels) for the decoder-kept
        positions, in token order."""
        x = self.encoder_to_decoder(encoded)  # (B, N_vis, D_dec)
        b, _, d = x.shape
        pos = self.pos_embed.expand(b, -1, -1)
        decoded = pos[~not_decoded].reshape(b, -1, d)  # (B, N_dec, D_dec)
        x = torch.cat([x + pos[~hidden].reshape(b, -1, d), self.mask_token + decoded], dim=1)
        return self.decoder(x, decoded.shape[1])

    def forward(self, video: torch.Tensor, hidden: torch.Tensor, not_decoded: torch.Tensor) -> torch.Tensor:
        """video (B, C, T, H, W); hidden, not_decoded (B, N) bool."""
        return self.decode(self.encoder(video, hidden), hidden, not_decoded)
