"""Model sizes registered by name (VideoMAE V2's, plus tiny ones for tests and the demo)."""

from __future__ import annotations

import dataclasses

from trainer.models.classifier import VideoClassifier
from trainer.models.pretrain import PretrainViT
from trainer.models.vit import ViTConfig

_DECODER = {"decoder_depth": 4}

SIZES: dict[str, ViTConfig] = {
    # for tests and the laptop demo: trains on a CPU in minutes
    "vit_test": ViTConfig(dim=64, depth=2, heads=2, decoder_dim=32, decoder_depth=1, decoder_heads=2),
    "vit_tiny": ViTConfig(dim=192, depth=6, heads=3, decoder_dim=96, decoder_depth=2, decoder_heads=3),
    # VideoMAE V2
    "vit_small": ViTConfig(dim=384, depth=12, heads=6, decoder_dim=192, decoder_heads=3, **_DECODER),
    "vit_base": ViTConfig(dim=768, depth=12, heads=12, decoder_dim=384, decoder_heads=6, **_DECODER),
    "vit_large": ViTConfig(dim=1024, depth=24, heads=16, decoder_dim=512, decoder_heads=8, **_DECODER),
    "vit_huge": ViTConfig(dim=1280, depth=32, heads=16, decoder_dim=512, decoder_heads=8, **_DECODER),
    "vit_giant": ViTConfig(patch=14, dim=1408, depth=40, heads=16, mlp_ratio=48 / 11, decoder_dim=512,
                           decoder_heads=8, **_DECODER),
}


def model_config(name: str, **overrides) -> ViTConfig:
    if name not in SIZES:
        raise KeyError(f"unknown model '{name}'; choose one of {', '.join(SIZES)}")
    unknown = set(overrides) - {f.name for f in dataclasses.fields(ViTConfig)}
    if unknown:
        raise TypeError(f"unknown model options {sorted(unknown)}")
    return dataclasses.replace(SIZES[name], **overrides)


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


def build(kind: str, args: dict, num_classes: int = 0, head_dropout: float = 0.0):
    """The model a checkpoint record describes: its kind and its ViTConfig arguments."""
    cfg = ViTConfig(**args)
    return PretrainViT(cfg) if kind == "pretrain" else VideoClassifier(cfg, num_classes, head_dropout)
