"""Building models: a registered size (sizes.py) with overrides, checked, in a registered family
(families.py); and the checks a stated model (a checkpoint's arguments) passes before it is built."""

from __future__ import annotations

import dataclasses
import math

from trainer.models.classifier import VideoClassifier
from trainer.models.families import family
from trainer.models.pretrain import PretrainViT
from trainer.models.sizes import SIZES, ModelError, ViTConfig

# What a stated model (a checkpoint's arguments, a config.json, a card) may ask for before anything is
# built from it: far above the registered sizes at 32 frames of 448 px, far below what a few crafted
# bytes could otherwise make vmae allocate.
MAX_DEPTH, MAX_WIDTH = 256, 16384
MAX_TABLE = 2**25  # tokens x width of the fixed position tables (vit_giant, 16 x 448 px: 2**24.6)
_WHOLE = ("patch", "tubelet", "frames", "img_size", "in_chans", "dim", "depth", "heads", "decoder_dim",
          "decoder_depth", "decoder_heads")


def check_args(args: dict) -> ViTConfig:
    """The ViTConfig that `args` state, after checking each value's type and range and that they
    fit together; ModelError (one line, naming the argument) otherwise."""
    unknown = sorted(set(args) - {f.name for f in dataclasses.fields(ViTConfig)})
    if unknown:
        raise ModelError(f"unknown model argument(s) {unknown}")
    for name, value in args.items():
        if name in _WHOLE:
            least = 0 if name == "decoder_depth" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ModelError(f"model argument {name} must be a whole number of at least {least}, got {value!r}")
        elif name == "grad_checkpointing":
            if not isinstance(value, bool):
                raise ModelError(f"model argument {name} must be true or false, got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ModelError(f"model argument {name} must be a number of at least 0, got {value!r}")
    cfg = ViTConfig(**args)
    _check_shape(cfg)
    return cfg


def _check_shape(cfg: ViTConfig) -> None:
    problems = [(cfg.depth > MAX_DEPTH or cfg.decoder_depth > MAX_DEPTH, f"depths over {MAX_DEPTH}"),
                (max(cfg.dim, cfg.decoder_dim) > MAX_WIDTH, f"widths over {MAX_WIDTH}"),
                (cfg.dim % cfg.heads, f"dim {cfg.dim} not divisible by heads {cfg.heads}"),
                (cfg.decoder_depth and cfg.decoder_dim % cfg.decoder_heads,
                 f"decoder_dim {cfg.decoder_dim} not divisible by decoder_heads {cfg.decoder_heads}"),
                (not 0 < cfg.mlp_ratio <= 16, f"mlp_ratio {cfg.mlp_ratio}"),
                (cfg.drop_path >= 1, f"drop_path {cfg.drop_path}"),
                (cfg.frames % cfg.tubelet or cfg.img_size % cfg.patch,
                 f"frames {cfg.frames} / tubelet {cfg.tubelet} or img_size {cfg.img_size} / patch {cfg.patch} "
                 "not whole"),
                (cfg.tokens * max(cfg.dim, cfg.decoder_dim) > MAX_TABLE,
                 f"{cfg.tokens:,} tokens of width {max(cfg.dim, cfg.decoder_dim)} (position tables over "
                 f"{MAX_TABLE:,} values)")]
    wrong = [text for bad, text in problems if bad]
    if wrong:
        raise ModelError(f"not a model vmae builds: {'; '.join(wrong)}")


def model_config(name: str, **overrides) -> ViTConfig:
    if name not in SIZES:
        raise ModelError(f"unknown model '{name}'; choose one of {', '.join(SIZES)}")
    unknown = set(overrides) - {f.name for f in dataclasses.fields(ViTConfig)}
    if unknown:
        raise ModelError(f"unknown model options {sorted(unknown)}")
    return check_args(dataclasses.asdict(dataclasses.replace(SIZES[name], **overrides)))


def size_of(dim: int, depth: int, patch: int) -> str | None:
    """The registered size with this width, depth and patch (for files that do not name theirs)."""
    return next((n for n, c in SIZES.items() if (c.dim, c.depth, c.patch) == (dim, depth, patch)), None)


def create_model(name: str, **overrides) -> PretrainViT:
    """The pretraining model (encoder + decoder) of a registered size, e.g.
    create_model("vit_base", frames=16, img_size=224, grad_checkpointing=True)."""
    return PretrainViT(model_config(name, **overrides))


def create_classifier(name: str, num_classes: int, head_dropout: float = 0.0, **overrides) -> VideoClassifier:
    """The fine-tuning model (trunk + mean pooling + fc_norm + head) of a registered size."""
    return VideoClassifier(model_config(name, **overrides), num_classes, head_dropout)


def build(kind: str, args: dict, num_classes: int = 0, head_dropout: float = 0.0, family_args: dict | None = None):
    """The model a checkpoint record describes: its family (`kind`), its ViTConfig arguments and the
    family's own (a text tower's)."""
    return family(kind).build(check_args(args), num_classes, head_dropout, family_args)
