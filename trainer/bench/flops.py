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
  matmul), so a training step is 3 × forward; a frozen teacher runs forward only, and so does
  what runs without gradients (the matching loss' choice of hard negatives).
- The video-language stage: the video encoder on its visible tokens, the text tower's layers on
  the caption's tokens, the fusion layers (self-attention, cross-attention to the video tokens,
  MLP) once per pair they judge, BERT's MLM head on the masked tokens.
Plain arithmetic, no torch: `vmae bench --help` stays quick.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from trainer.models.sizes import ViTConfig

if TYPE_CHECKING:
    from trainer.models.text import TextConfig


def visible_tokens(cfg: ViTConfig, mask_ratio: float, slices: int | None = None) -> int:
    """Tokens the encoder sees: every mask type (trainer/data/masking.py, UMT's semantic mask)
    hides int(ratio·H·W) tokens of each time slice; `slices` when not the clip's own."""
    per_slice = (cfg.img_size // cfg.patch) ** 2
    return (per_slice - int(mask_ratio * per_slice)) * (cfg.frames // cfg.tubelet if slices is None else slices)


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
    """One MAE sample with dual masking (a tube mask and the decoder's running-cell mask)."""
    return pretrain_step(cfg, {"mae"}, "tube", mask_ratio, decoder_ratio)


def supervised_step(cfg: ViTConfig, classes: int) -> StepFlops:
    """One sample of fine-tuning: the encoder on every token, a linear head on the pooled token."""
    return StepFlops(encoder_flops(cfg, cfg.tokens) + 2.0 * cfg.dim * classes)


@dataclass(frozen=True)
class TeacherShape:
    """What UMT's image teacher (a timm ViT run on every frame) costs depends on."""

    dim: int
    depth: int
    mlp_ratio: float
    patch: int
    img_size: int
    out_dim: int  # the projection after its final norm
    prefix: int = 1  # class token(s)

    @property
    def patches(self) -> int:
        return (self.img_size // self.patch) ** 2


def teacher_flops(t: TeacherShape, frames: int, layers: int) -> float:
    """Forward FLOPs of the frozen teacher on `frames` frames: the patch embedding, its blocks over
    patches + class token, its last block's qkv again for the class token's attention map (and the
    class token's scores), and the projection of the last `layers` blocks' patch features."""
    tokens = t.patches + t.prefix
    per_frame = (2.0 * t.patches * 3 * t.patch**2 * t.dim + t.depth * block_flops(tokens, t.dim, t.mlp_ratio)
                 + 2.0 * tokens * t.dim * 3 * t.dim + 2.0 * tokens * t.dim
                 + layers * 2.0 * t.patches * t.dim * t.out_dim)
    return frames * per_frame


def umt_step(cfg: ViTConfig, teacher: TeacherShape, mask_ratio: float = 0.8, layers: int = 6) -> StepFlops:
    """One UMT sample under semantic masking."""
    return pretrain_step(cfg, {"umt"}, "semantic", mask_ratio, 0.0, teacher, layers)


def pretrain_step(cfg: ViTConfig, parts: set[str], mask_type: str, mask_ratio: float, decoder_ratio: float,
                  teacher: TeacherShape | None = None, layers: int = 0) -> StepFlops:
    """One stage-1 sample of any sum of parts (trainer/objectives/pretraining.py), as
    trainer/data/masking.py and UMT's semantic mask draw it: every mask type hides
    int(ratio·H·W) tokens of each time slice from the encoder, which runs once for all parts.
    - mae: the decoder's mask tokens at the positions its running-cell mask keeps
      (1 - decoder_ratio of all); at every hidden one with decoder ratio 0 or a semantic mask;
    - umt: an alignment head (linear to the teacher's width) per aligned layer on the visible
      tokens, and the frozen teacher's forward on every frame."""
    visible = visible_tokens(cfg, mask_ratio)
    hidden = cfg.tokens - visible
    trained, frozen = encoder_flops(cfg, visible), 0.0
    if "mae" in parts:
        whole = decoder_ratio == 0 or mask_type == "semantic"
        rebuilt = hidden if whole else cfg.tokens - round(cfg.tokens * decoder_ratio)
        trained += decoder_flops(cfg, visible, rebuilt)
    if "umt" in parts:
        if teacher is None:
            raise ValueError("umt's FLOPs need the teacher's shape")
        trained += layers * 2.0 * visible * cfg.dim * teacher.out_dim
        frozen = teacher_flops(teacher, cfg.frames, layers)
    return StepFlops(trained, frozen)


def text_flops(text: TextConfig, tokens: int) -> float:
    """Forward FLOPs of the text tower's text-only layers over a caption of `tokens` tokens."""
    return text.text_layers * block_flops(tokens, text.dim, text.mlp_dim / text.dim)


def fusion_flops(text: TextConfig, tokens: int, video_tokens: int, video_dim: int) -> float:
    """Forward FLOPs of the fusion layers for one (caption, video) pair: each is a text layer plus
    a cross-attention whose query and output run on the caption's tokens, key and value on the
    video's, and whose scores and weighted sum pair the two."""
    cross = 2.0 * (2 * tokens * text.dim**2 + 2 * video_tokens * video_dim * text.dim
                   + 2 * tokens * video_tokens * text.dim)
    return text.fusion_layers * (block_flops(tokens, text.dim, text.mlp_dim / text.dim) + cross)


@dataclass(frozen=True)
class VLShape:
    """What one video-language step costs depends on, beyond the video and text towers."""

    losses: frozenset[str]  # of uma, vtc, vtm, mlm: those with a weight
    embed_dim: int  # the shared space
    caption_tokens: int  # L: captions are padded to it, and every layer runs on all of them
    batch: int  # samples per rank
    mask_ratio: float = 0.0  # the semantic mask's share of each time slice (0: no mask)
    mlm_tokens: float = 0.0  # tokens per caption the MLM head predicts
    ranks: int = 1  # the contrastive loss gathers every rank's batch, and each rank scores all of it


def vl_step(cfg: ViTConfig, text: TextConfig, shape: VLShape, image: bool = False,
            teacher: TeacherShape | None = None, layers: int = 0) -> StepFlops:
    """One sample of the video-language stage (trainer/objectives/vl.py): a video, or an image (one
    tubelet: the frame repeated, which the teacher sees `tubelet` times).
    - video tower: the embedding of every token, the blocks on the visible ones;
    - vtc: the two projections to the shared space, and the similarities of the batch gathered
      from every rank (each rank computes them all: per sample of its own, ranks rows);
    - vtm: the fusion layers on the pair and on its two hard negatives (a caption with another video,
      the video with another caption), the matching head on each; the similarities it draws the
      negatives from run forward only;
    - mlm: the text layers again on the masked caption, the fusion layers with the video, BERT's
      head (a dense layer and the vocabulary's decoder) on the masked tokens;
    - uma: the alignment heads on the visible tokens, the teacher's forward on every frame."""
    losses = shape.losses
    slices = 1 if image else cfg.frames // cfg.tubelet
    visible = visible_tokens(cfg, shape.mask_ratio, slices)
    embedded = (cfg.img_size // cfg.patch) ** 2 * slices  # every token, visible or not
    trained = 2.0 * embedded * cfg.pixels_per_token * cfg.dim + cfg.depth * block_flops(visible, cfg.dim, cfg.mlp_ratio)
    frozen, length = 0.0, shape.caption_tokens
    if losses & {"vtc", "vtm", "mlm"}:
        trained += text_flops(text, length)
    if "vtc" in losses:
        gathered = shape.batch * shape.ranks
        trained += 2.0 * (cfg.dim + text.dim) * shape.embed_dim + 2.0 * gathered * shape.ranks * shape.embed_dim
    if "vtm" in losses:
        trained += 3 * (fusion_flops(text, length, visible, cfg.dim) + 2.0 * text.dim * 2)
        frozen += 2.0 * shape.batch * shape.embed_dim
    if "mlm" in losses:
        trained += (text_flops(text, length) + fusion_flops(text, length, visible, cfg.dim)
                    + shape.mlm_tokens * 2.0 * (text.dim * text.dim + text.dim * text.vocab_size))
    if "uma" in losses:
        if teacher is None:
            raise ValueError("uma's FLOPs need the teacher's shape")
        trained += layers * 2.0 * visible * cfg.dim * teacher.out_dim
        frozen += teacher_flops(teacher, cfg.tubelet if image else cfg.frames, layers)
    return StepFlops(trained, frozen)
