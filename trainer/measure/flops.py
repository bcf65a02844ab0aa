"""Model FLOPs counted from the architecture, for MFU (model FLOPs utilization).

The convention of MFU, as in PaLM's appendix: the matrix multiplications of the model's useful
work, 2 FLOPs per multiply-add; norms, softmax, GELU, the loss and the optimizer are left out,
and so is the recomputation of gradient checkpointing (it is work, not useful work).
- A transformer block over N tokens of width D with MLP ratio r: the qkv, output and MLP
  projections, N·D²·(4 + 2r) multiply-adds, and attention's scores and weighted sum, 2·N²·D.
- The tubelet embedding: every token, (C·t·p²)·D.
- What a model family's forward costs is the family's (trainer/models/families.py: the trunk
  over the tokens it sees, a head); what an objective adds (a decoder, alignment heads, a frozen
  teacher, the text tower's losses) is a method of its options class (trainer/objectives/options/),
  so that a new objective states its cost. This module holds the arithmetic they share.
- Backward is twice the forward (a gradient for the input and one for the weights of every
  matmul), so a training step is 3 × forward; a frozen teacher runs forward only, and so does
  what runs without gradients (the matching loss' choice of hard negatives).
- The video-language stage: the video encoder on its visible tokens, the text tower's layers on
  the caption's tokens, the fusion layers (self-attention, cross-attention to the video tokens,
  MLP) once per pair they judge, BERT's MLM head on the masked tokens.
Plain arithmetic, no torch, and nothing else of the trainer: a leaf every layer may import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for the hints only: the configs are read, never built, here
    from trainer.models.sizes import ViTConfig
    from trainer.models.text import TextConfig


def visible_tokens(cfg: ViTConfig, mask_ratio: float, slices: int | None = None) -> int:
    """Tokens the encoder sees: every mask type (trainer/data/masking.py, UMT's semantic mask)
    hides int(ratio·H·W) tokens of each time slice; `slices` when not the clip's own."""
    per_slice = (cfg.img_size // cfg.patch) ** 2
    return (per_slice - int(mask_ratio * per_slice)) * (cfg.frames // cfg.tubelet if slices is None else slices)


def block_flops(tokens: int, dim: int, mlp_ratio: float) -> float:
    """Forward FLOPs of one transformer block."""
    return 2.0 * (tokens * dim * dim * (4 + 2 * mlp_ratio) + 2 * tokens * tokens * dim)


def embed_flops(cfg: ViTConfig, embedded: int | None = None) -> float:
    """The tubelet embedding of `embedded` tokens (default: the clip's)."""
    return 2.0 * (cfg.tokens if embedded is None else embedded) * cfg.pixels_per_token * cfg.dim


def encoder_flops(cfg: ViTConfig, visible: int, embedded: int | None = None) -> float:
    """Forward FLOPs of the encoder: the embedding of every token (`embedded`: an image's one
    slice), the blocks on the visible ones."""
    return embed_flops(cfg, embedded) + cfg.depth * block_flops(visible, cfg.dim, cfg.mlp_ratio)


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

    def __add__(self, other: StepFlops) -> StepFlops:
        return StepFlops(self.trained_forward + other.trained_forward, self.frozen_forward + other.frozen_forward)


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




def alignment_flops(visible: int, dim: int, teacher: TeacherShape, layers: int) -> float:
    """UMT's alignment heads: a linear map to the teacher's width per aligned layer, on the visible tokens."""
    return layers * 2.0 * visible * dim * teacher.out_dim


@dataclass(frozen=True)
class StepShape:
    """What one sample's FLOPs depend on beyond an objective's own options: the model's config, the
    tokens its encoder embeds and sees, and what only the built run knows (a teacher's shape, the
    classes, the text tower, the batch gathered over the ranks)."""

    vit: ViTConfig
    visible: int  # tokens the encoder's blocks see
    embedded: int  # tokens embedded: the clip's, or one slice for an image
    mask_type: str = "tube"
    teacher: TeacherShape | None = None  # a frozen image teacher (umt, uma)
    teacher_frames: int = 0  # the frames it runs on
    classes: int = 0  # a classification head's width
    distilled_from: ViTConfig | None = None  # a frozen classifier the student learns from
    text: TextConfig | None = None  # the text tower of the video-language stage
    embed_dim: int = 0  # its shared video-text space
    batch: int = 1  # samples per rank
    ranks: int = 1

    @property
    def hidden(self) -> int:
        return self.vit.tokens - self.visible
