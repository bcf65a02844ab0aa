"""The video ViT's arguments and the sizes registered by name (VideoMAE V2's, plus tiny ones for
tests and the demo). Plain data, no torch: the CLI lists the sizes in its help without loading it."""

from __future__ import annotations

from dataclasses import dataclass


class ModelError(ValueError):
    """Model arguments or a model name that vmae does not build (one line, naming the argument)."""


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
    decoder_depth: int = 4  # 0: no pixel decoder (a UMT student)
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
