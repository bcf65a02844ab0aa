"""Model FLOPs counted from the architecture, for MFU (model FLOPs utilization).

The convention of MFU, as in PaLM's appendix: the matrix multiplications of the model's useful
work, 2 FLOPs per multiply-add; norms, softmax, GELU, the loss and the optimizer are left out,
and so is the recomputation of gradient checkpointing (it is work, not useful work).
- A transformer block over N tokens of width D with MLP ratio r: the qkv, output and MLP
  projections, N·D²·(4 + 2r) multiply-adds, and attention's scores and weighted sum, 2·N²·D.
- The tubelet embedding: every token, (C·t·p²)·D.
- MAE with dual masking: the encoder runs on the visible tokens; the decoder on the visible
  tokens plus those it rebuilds, its head on those it rebuilds.
- Backward is twice the forward (a gradient for the input and one for the weights of every
  matmul), so a training step is 3 × forward; a frozen teacher runs forward only.
Plain arithmetic, no torch: `vmae bench --help` stays quick.
"""

from __future__ import annotations

from dataclasses import dataclass

from trainer.models.sizes import ViTConfig


def block_flops(tokens: int, dim: int, mlp_ratio: float) -> float:
    """Forward FLOPs of one transformer block."""
    return 2.0 * (tokens * dim * dim * (4 + 2 * mlp_ratio) + 2 * tokens * tokens * dim)


def embed_flops(cfg: ViTConfig) -> float:
    return 2.0 * cfg.tokens * cfg.pixels_per_token * cfg.dim


def encoder_flops(cfg: ViTConfig, visible: int) -> float:
    """Forward FLOPs of the encoder: the embedding of every token, the blocks on the visible ones."""
    return embed_flops(cfg) + cfg.depth * block_flops(visible, cfg.dim, cfg.mlp_ratio)


def decoder_flops(cfg: ViTConfig, visible: int, rebuilt: int) -> float:
    """Forward FLOPs of the MAE decoder: the projection of the visible tokens to its width, its
    blocks on visible + rebuilt tokens, the pixel head on the rebuilt ones."""
    return (2.0 * visible * cfg.dim * cfg.decoder_dim
            + cfg.decoder_depth * block_flops(visible + rebuilt, cfg.decoder_dim, cfg.mlp_ratio)
            + 2.0 * rebuilt * cfg.decoder_dim * cfg.pixels_per_token)


@dataclass(frozen=True)
class StepFlops:
    """FLOPs of one training sample: what trains (forward and backward) and what runs forward only."""

    trained_forward: float
    frozen_forward: float = 0.0

    @property
    def per_sample(self) -> float:
        return 3.0 * self.trained_forward + self.frozen_forward


def mae_step(cfg: ViTConfig, mask_ratio: float = 0.9, decoder_ratio: float = 0.5) -> StepFlops:
    """One MAE sample with dual masking, as trainer/data/masking.py draws it: `mask_ratio` of the
    tokens hidden from the encoder; the decoder's mask tokens at the 1 - decoder_ratio of all
    positions its running-cell mask keeps (decoder ratio 0: at every hidden position)."""
    per_slice = (cfg.img_size // cfg.patch) ** 2
    hidden = int(mask_ratio * per_slice) * (cfg.frames // cfg.tubelet)  # the tube mask's count
    visible = cfg.tokens - hidden
    rebuilt = hidden if decoder_ratio == 0 else cfg.tokens - round(cfg.tokens * decoder_ratio)
    return StepFlops(encoder_flops(cfg, visible) + decoder_flops(cfg, visible, rebuilt))


def supervised_step(cfg: ViTConfig, classes: int) -> StepFlops:
    """One sample of fine-tuning: the encoder on every token, a linear head on the pooled token."""
    return StepFlops(encoder_flops(cfg, cfg.tokens) + 2.0 * cfg.dim * classes)
