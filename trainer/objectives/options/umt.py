"""umt's options: the frozen image teacher (a timm CLIP architecture and local weights), how many of
the last blocks are aligned, and the recipe of UMT's official scripts (8 sparse frames, tubelet 1,
semantic mask 0.8, 40 of 201 epochs of warm-up)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from manifests.options import option
from trainer.errors import ConfigError
from trainer.measure.flops import StepFlops, StepShape, alignment_flops, teacher_flops
from trainer.objectives.options.base import ObjectiveOptions

TEACHER_PRECISIONS = ("auto", "bf16", "fp32")


@dataclass(frozen=True)
class UMTOptions(ObjectiveOptions):
    name = "umt"
    summary = "Unmasked Teacher: aligned to a frozen CLIP image teacher"
    panel = "Unmasked Teacher (--objective umt)"
    implementation = "trainer.objectives.umt:UMT"
    masks_by_teacher = True

    teacher: str = option("vit_base_patch16_clip_224", "timm architecture of the image teacher, e.g. "
                          "vit_base_patch16_clip_224.")
    teacher_weights: str | None = option(None, "The teacher's weights: a local timm, OpenCLIP or OpenAI CLIP state "
                                         "dict (.pt/.pth/.bin/.safetensors); 'random' for a trial run.")
    teacher_img_size: int | None = option(None, "The teacher's input size (default: the student's token grid × its "
                                          "patch).")
    align_layers: int = option(6, "Last K blocks of student and teacher aligned.")
    teacher_precision: str = option("auto", "auto (bf16 on a GPU or in a bf16 run), bf16 or fp32.")

    PRESET: ClassVar[dict] = {"mask_type": "semantic", "encoder_mask": 0.8, "warmup_fraction": 0.2, "drop_path": 0.1,
              "data": {"frames": 8, "tubelet": 1, "sampling": "segments"}}
    SIZE_PRESETS: ClassVar[dict] = {"vit_large": {"drop_path": 0.2, "teacher": "vit_large_patch14_clip_224"}}

    @classmethod
    def presets(cls, model: str) -> list[dict]:
        return [cls.PRESET, cls.SIZE_PRESETS.get(model, {})]

    def flops(self, shape: StepShape) -> StepFlops:
        """The alignment heads on the visible tokens (trained), the teacher's forward on every frame (frozen)."""
        if shape.teacher is None:
            raise ValueError("umt's FLOPs need the teacher's shape")
        return StepFlops(alignment_flops(shape.visible, shape.vit.dim, shape.teacher, self.align_layers),
                         teacher_flops(shape.teacher, shape.teacher_frames, self.align_layers))

    def check(self, cfg) -> None:
        if not self.teacher_weights:
            raise ConfigError("UMT needs its teacher's weights: --teacher-weights FILE (a timm, OpenCLIP or OpenAI "
                              "CLIP state dict of the --teacher architecture; nothing is downloaded), or 'random' for "
                              "a trial run with a random teacher")
        if self.teacher_precision not in TEACHER_PRECISIONS:
            raise ConfigError(f"teacher_precision must be {', '.join(TEACHER_PRECISIONS)}; got "
                              f"{self.teacher_precision!r}")
        if self.align_layers < 1:
            raise ConfigError(f"align_layers must be at least 1, got {self.align_layers}")
