"""A frozen image teacher for Unmasked Teacher (UMT): a timm ViT (e.g. a CLIP image tower) run on
every frame of the unmasked video. It gives, per frame, the patch features of its last K blocks
(after its final norm and projection, L2-normalized) and the attention of its class token over
the patch tokens in its last block (averaged over heads), from which semantic masking samples.

Weights come from a local file in timm, OpenCLIP or OpenAI CLIP layout; timm's own converter
(checkpoint_filter_fn) renames the CLIP layouts and resamples position tables, so a ViT-L/14 runs
at 196 pixels (14x14 tokens). Nothing is fetched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import timm
import torch
import torch.nn.functional as F
from timm.models.vision_transformer import VisionTransformer, checkpoint_filter_fn
from torch import nn

from trainer.measure.flops import TeacherShape

# Tiny architectures for tests and laptop runs, built by the same code path as real teachers.
ALIASES: dict[str, tuple[str, dict]] = {
    "clip_test": ("vit_base_patch16_clip_224", {"embed_dim": 64, "depth": 3, "num_heads": 2}),
}
# Projection widths of the CLIP image towers, for teachers built without weights (benchmarks).
_PROJECTION = {"vit_base_patch16_clip": 512, "vit_large_patch14_clip": 768, "clip_test": 32}


class TeacherError(ValueError):
    """A teacher that cannot be built or loaded, with what to do."""


@dataclass(frozen=True)
class TeacherOutput:
    features: torch.Tensor  # (K, B, T, N, C) L2-normalized, float32
    attention: torch.Tensor  # (B, T, N) class-token attention over patches, float32


def class_attention(attn: nn.Module, x: torch.Tensor, prefix: int) -> torch.Tensor:
    """The attention of token 0 (the class token) over the patch tokens in a timm Attention
    module whose input is x (B, prefix + N, D), averaged over heads: (B, N)."""
    b, n, _ = x.shape
    qkv = attn.qkv(x).reshape(b, n, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
    q, k = attn.q_norm(qkv[0]), attn.k_norm(qkv[1])  # (B, heads, N, d)
    scores = (q[:, :, :1] * attn.scale) @ k.transpose(-2, -1)  # (B, heads, 1, prefix + N)
    return scores.float().softmax(dim=-1).mean(dim=1)[:, 0, prefix:]


class ImageTeacher(nn.Module):
    def __init__(self, vit: VisionTransformer, layers: int):
        super().__init__()
        if layers > len(vit.blocks):
            raise TeacherError(f"the teacher has {len(vit.blocks)} blocks; it cannot give its last {layers}")
        self.vit, self.layers = vit, layers
        cfg = vit.pretrained_cfg
        self.register_buffer("mean", torch.tensor(cfg.get("mean", (0.5, 0.5, 0.5))).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(cfg.get("std", (0.5, 0.5, 0.5))).view(1, 3, 1, 1), persistent=False)
        self.img_size = vit.patch_embed.img_size[0]
        self.grid = tuple(vit.patch_embed.grid_size)
        self.out_dim = vit.head.out_features if isinstance(vit.head, nn.Linear) else vit.embed_dim
        self.requires_grad_(False).eval()

    @torch.no_grad()
    def forward(self, pixels: torch.Tensor) -> TeacherOutput:
        """pixels (B, C, T, H, W) in [0, 1], unmasked."""
        b, c, t, h, w = pixels.shape
        x = pixels.transpose(1, 2).reshape(b * t, c, h, w)
        if (h, w) != (self.img_size, self.img_size):
            x = F.interpolate(x, size=(self.img_size, self.img_size), mode="bicubic", align_corners=False)
        x = (x - self.mean) / self.std
        seen = {}
        hook = self.vit.blocks[-1].norm1.register_forward_hook(lambda _m, _i, out: seen.setdefault("x", out))
        try:
            layers = self.vit.forward_intermediates(x, indices=self.layers, norm=True, output_fmt="NLC",
                                                    intermediates_only=True)  # K × (B·T, N, D)
        finally:
            hook.remove()
        attention = class_attention(self.vit.blocks[-1].attn, seen["x"], self.vit.num_prefix_tokens)
        features = torch.stack([F.normalize(self.vit.head(f).float(), dim=-1) for f in layers])
        n = features.shape[2]
        return TeacherOutput(features.view(self.layers, b, t, n, -1), attention.view(b, t, n))

    def train(self, mode: bool = True) -> ImageTeacher:
        return super().train(False)  # frozen: always in inference mode

    def shape(self) -> TeacherShape:
        """What its forward costs depends on (trainer/measure/flops.py counts it)."""
        vit = self.vit
        return TeacherShape(dim=vit.embed_dim, depth=len(vit.blocks),
                            mlp_ratio=vit.blocks[0].mlp.fc1.out_features / vit.embed_dim,
                            patch=vit.patch_embed.patch_size[0], img_size=self.img_size, out_dim=self.out_dim,
                            prefix=vit.num_prefix_tokens)


def projection_width(state: dict) -> int:
    """The width of the projection after the final norm in a state dict of any supported layout
    (0: none)."""
    for key, dim in (("visual.proj", 1), ("module.visual.proj", 1), ("head.weight", 0), ("visual.head.proj.weight", 0)):
        if key in state:
            return int(state[key].shape[dim])
    return 0


def teacher_patch(name: str) -> int:
    """The patch size of a teacher architecture, from its timm name (…_patch16_…)."""
    found = re.search(r"patch(\d+)", ALIASES.get(name, (name, {}))[0])
    if not found:
        raise TeacherError(f"--teacher {name}: cannot tell its patch size from the name; give --teacher-img-size")
    return int(found.group(1))


def build_teacher(name: str, layers: int, img_size: int | None = None, state: dict | None = None) -> ImageTeacher:
    """A teacher of timm architecture `name` (or an alias) at `img_size`, with the weights of
    `state` (timm, OpenCLIP or OpenAI CLIP names) or, when None, random weights."""
    arch, extra = ALIASES.get(name, (name, {}))
    width = projection_width(state) if state is not None else next(
        (v for k, v in _PROJECTION.items() if name.startswith(k)), 0)
    kwargs = {**extra, "num_classes": width, **({"img_size": img_size} if img_size else {})}
    try:
        vit = timm.create_model(arch, pretrained=False, **kwargs)
    except RuntimeError as e:
        raise TeacherError(f"--teacher {name}: not a timm architecture ({e}); CLIP towers are e.g. "
                           f"{', '.join(timm.list_models('vit_*_clip_*224')[:4])}") from e
    if not isinstance(vit, VisionTransformer):
        raise TeacherError(f"--teacher {name} is a {type(vit).__name__}; a timm VisionTransformer is needed")
    if state is not None:
        _load(vit, state, name)
    return ImageTeacher(vit, layers)


def _load(vit: VisionTransformer, state: dict, name: str) -> None:
    advice = "Give the architecture they were trained as (--teacher), e.g. vit_base_patch16_clip_224 for CLIP ViT-B/16"
    try:
        missing, unexpected = vit.load_state_dict(checkpoint_filter_fn(state, vit), strict=False)
    except RuntimeError as e:  # shapes that differ
        first = next((line.strip() for line in str(e).splitlines() if "size mismatch" in line), str(e))
        raise TeacherError(f"the teacher weights do not fit {name}: {first}. {advice}") from e
    if missing or unexpected:
        raise TeacherError(f"the teacher weights do not fit {name}: missing {sorted(missing)[:5]}, unexpected "
                           f"{sorted(unexpected)[:5]}. {advice}")
