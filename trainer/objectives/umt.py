"""umt: Unmasked Teacher (Li et al., ICCV 2023). A frozen image teacher (CLIP) sees every frame
unmasked; the student sees the tokens semantic masking keeps (sampled by the teacher's class-token
attention, 0.8 hidden by default); each of the student's last K blocks goes through its own small
head (position table added, linear to the teacher's width, LayerNorm, L2 normalization) and is
aligned to the teacher's block in the same place from the end: loss = mean of 2 − 2·cos over the
visible tokens and the K layers. The heads are dropped after pretraining."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trainer import checkpoint
from trainer.data.config import Geometry
from trainer.errors import ConfigError
from trainer.models.layers import init_weights, sincos_table
from trainer.models.teacher import ImageTeacher, build_teacher, teacher_patch
from trainer.objectives.base import Encoded, PretrainPart


def semantic_mask(attention: torch.Tensor, ratio: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """attention (B, T, N) per frame -> hidden (B, T·N) bool: in every frame N − int(N·ratio)
    visible tokens are drawn without replacement with probabilities proportional to the attention
    (a tiny floor keeps the draw defined when attention is zero somewhere)."""
    b, t, n = attention.shape
    probs = attention.reshape(b * t, n).float().clamp_min(1e-12)
    keep = torch.multinomial(probs, n - int(n * ratio), replacement=False, generator=generator)  # (B·T, visible)
    hidden = torch.ones(b * t, n, dtype=torch.bool, device=attention.device)
    hidden.scatter_(1, keep, False)
    return hidden.view(b, t * n)


def alignment_loss(student: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean of 2 − 2·cos between student features and L2-normalized targets (…, C)."""
    return (2 - 2 * (F.normalize(student.float(), dim=-1) * target).sum(dim=-1)).mean()


def _draws_for(batch: dict, device: torch.device) -> torch.Generator | None:
    """A generator seeded by which samples the batch holds (the stream's worker, index and view):
    the same batch gets the same semantic masks in a resumed run, whatever the global RNG did."""
    if "index" not in batch:
        return None
    key = (batch["worker"].long() * 1_000_003 + batch["index"].long() * 31 + batch["view"].long()).tolist()
    return torch.Generator(device=device).manual_seed(hash(tuple(key)) % 2**62)


class AlignmentHead(nn.Module):
    """Student block output (with positions added by the caller) -> the teacher's feature space."""

    def __init__(self, dim: int, teacher_dim: int):
        super().__init__()
        self.head = nn.Linear(dim, teacher_dim)
        self.norm = nn.LayerNorm(teacher_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.norm(self.head(x)).float(), dim=-1)


class UMT(PretrainPart):
    name = "umt"
    frozen = ("teacher",)

    def __init__(self, teacher: ImageTeacher, dim: int, geometry: Geometry, mask: str, ratio: float,
                 teacher_bf16: bool):
        super().__init__()
        t, h, w = geometry.grid
        if teacher.grid != (h, w):
            raise ConfigError(f"the teacher gives {teacher.grid[0]}x{teacher.grid[1]} tokens per frame and the student "
                             f"{h}x{w}: set --teacher-img-size to {h} × the teacher's patch, or change --img-size")
        self.teacher, self.layers, self.tubelet = teacher, teacher.layers, geometry.tubelet
        self.semantic, self.ratio, self.teacher_bf16 = mask == "semantic", ratio, teacher_bf16
        self.heads = nn.ModuleList(AlignmentHead(dim, teacher.out_dim) for _ in range(teacher.layers))
        self.heads.apply(init_weights)
        self.register_buffer("pos_embed", sincos_table(geometry.tokens, dim), persistent=False)

    def step_facts(self) -> dict:
        return {"teacher": self.teacher.shape()}

    @classmethod
    def build(cls, cfg, model: nn.Module, device: torch.device) -> UMT:
        geometry, student, options = cfg.data.geometry(), model.encoder, cfg.umt
        if options.align_layers > len(student.blocks):
            raise ConfigError(f"--align-layers {options.align_layers}: {cfg.model} has only {len(student.blocks)} "
                              "blocks")
        state = None if options.teacher_weights == "random" else checkpoint.load_file(options.teacher_weights)
        size = options.teacher_img_size or geometry.grid[1] * teacher_patch(options.teacher)
        teacher = build_teacher(options.teacher, options.align_layers, size, state)
        bf16 = options.teacher_precision == "bf16" or (options.teacher_precision == "auto" and (
            cfg.precision == "bf16" or (device.type == "cuda" and torch.cuda.is_bf16_supported())))
        return cls(teacher, student.cfg.dim, geometry, cfg.mask_type, cfg.encoder_mask, bf16)

    def prepare(self, batch: dict) -> None:
        pixels = batch["pixels"]
        with torch.autocast(pixels.device.type, dtype=torch.bfloat16, enabled=self.teacher_bf16):
            out = self.teacher(pixels)
        features, attention = out.features, out.attention  # (K, B, T, n, C), (B, T, n)
        if self.tubelet > 1:  # one student token spans `tubelet` frames: average the teacher over them
            k, b, t, n, c = features.shape
            features = F.normalize(features.view(k, b, t // self.tubelet, self.tubelet, n, c).mean(3), dim=-1)
            attention = attention.view(b, t // self.tubelet, self.tubelet, n).mean(2)
        if self.semantic:  # a batch may ask for another ratio (the video-language stage's images)
            ratio = batch.get("mask_ratio", self.ratio)
            batch["hidden"] = semantic_mask(attention, ratio, _draws_for(batch, attention.device))
        batch["umt_targets"] = features.flatten(2, 3)  # (K, B, N, C), tokens in the student's order

    def loss(self, model: nn.Module, encoded: Encoded, batch: dict) -> torch.Tensor:
        hidden, targets = batch["hidden"], batch["umt_targets"]
        table = batch.get("umt_pos", self.pos_embed)  # another length's table (an image's), when given
        b, d = hidden.shape[0], table.shape[-1]
        pos = table.expand(b, -1, -1)[~hidden].reshape(b, -1, d)
        visible = targets[:, ~hidden].reshape(self.layers, b, -1, targets.shape[-1])  # (K, B, N_vis, C)
        student = encoded.layers[-self.layers:]
        return torch.stack([alignment_loss(head(x + pos), t)
                            for head, x, t in zip(self.heads, student, visible, strict=True)]).mean()
