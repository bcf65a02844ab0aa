"""supervised (stages 2 and 3): cross-entropy on soft targets with label smoothing, random erasing
and mixup/cutmix applied to the whole clip, and optional distillation from a frozen teacher
classifier (KL on temperature-softened logits)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.data import Mixup
from timm.data.mixup import mixup_target
from timm.data.random_erasing import RandomErasing
from timm.loss import SoftTargetCrossEntropy
from torch import nn

from trainer.data.augment import to_model_input
from trainer.errors import TrainingError
from trainer.objectives.base import Objective


def mix_batch(video: torch.Tensor, labels: torch.Tensor, mixer: Mixup | None, eraser: RandomErasing | None,
              classes: int, smoothing: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Random erasing, then mixup or cutmix, on a normalized (B, C, T, H, W) batch: the frames are
    folded into channels so that an erased or pasted box is the same box on every frame.
    Returns the batch and soft targets (B, classes)."""
    b, c, t, h, w = video.shape
    flat = video.reshape(b, c * t, h, w)
    if eraser is not None:
        flat = eraser(flat)
    if mixer is not None:
        flat, target = mixer(flat, labels)
    else:
        target = mixup_target(labels, classes, smoothing=smoothing)
    return flat.view(b, c, t, h, w), target


def distill_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher ‖ student) on temperature-softened logits, scaled by T² (Hinton et al.)."""
    t = temperature
    return F.kl_div(F.log_softmax(student / t, dim=-1), F.log_softmax(teacher / t, dim=-1), log_target=True,
                    reduction="batchmean") * t * t


class Supervised(Objective):
    frozen = ("teacher",)

    def __init__(self, classes: int, smoothing: float = 0.1, mixup: float = 0.0, cutmix: float = 0.0,
                 mix_prob: float = 0.0, erase_prob: float = 0.0, teacher: nn.Module | None = None,
                 distill_weight: float = 0.5, distill_temperature: float = 1.0, device: str = "cpu"):
        super().__init__()
        self.classes, self.smoothing = classes, smoothing
        mixing = mix_prob > 0 and (mixup > 0 or cutmix > 0)
        self.mixer = Mixup(mixup_alpha=mixup, cutmix_alpha=cutmix, prob=mix_prob, switch_prob=0.5,
                           label_smoothing=smoothing, num_classes=classes) if mixing else None
        self.eraser = RandomErasing(erase_prob, mode="pixel", device=device) if erase_prob > 0 else None
        self.criterion = SoftTargetCrossEntropy()
        self.teacher = teacher.requires_grad_(False).eval() if teacher is not None else None
        self.distill_weight, self.distill_temperature = distill_weight, distill_temperature

    def step_facts(self) -> dict:
        return {"distilled_from": self.teacher.cfg} if self.teacher is not None else {}

    def train(self, mode: bool = True) -> Supervised:
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()  # frozen: no dropout, no drop path
        return self

    def forward(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
        labels = batch["label"]
        if int(labels.max()) >= self.classes or int(labels.min()) < 0:
            raise TrainingError(f"label id {int(labels.max())} in the shards is outside the corpus' {self.classes} "
                                "classes (labels.txt); rebuild or re-mix the corpus")
        video, target = mix_batch(to_model_input(batch["video"])[0], labels, self.mixer, self.eraser, self.classes,
                                  self.smoothing)
        logits = model(video)
        loss = self.criterion(logits.float(), target)
        if self.teacher is None:
            return loss, {}
        with torch.no_grad():
            teacher_logits = self.teacher(video).float()
        distill = distill_loss(logits.float(), teacher_logits, self.distill_temperature)
        return (1 - self.distill_weight) * loss + self.distill_weight * distill, {"loss_distill": distill.detach()}
