"""supervised's options (stages 2 and 3): label smoothing, random erasing, mixup/cutmix, and
distillation from a teacher classifier."""

from __future__ import annotations

from dataclasses import dataclass

from manifests.options import option
from trainer.errors import ConfigError
from trainer.measure.flops import StepFlops, StepShape, encoder_flops
from trainer.objectives.options.base import ObjectiveOptions

AUG = "Augmentation and regularization"
INIT = "Initialization"


@dataclass(frozen=True)
class SupervisedOptions(ObjectiveOptions):
    name = "supervised"
    summary = "cross-entropy with label smoothing, mixup/cutmix, optional distillation"
    panel = AUG
    implementation = "trainer.objectives.supervised:Supervised"

    smoothing: float = option(0.1, "Label smoothing.")
    erase_prob: float = option(0.25, "Random erasing probability.")
    mixup: float = option(0.8, "Mixup alpha (0: off).")
    cutmix: float = option(1.0, "Cutmix alpha (0: off).")
    mix_prob: float = option(1.0, "Probability that a batch is mixed (mixup or cutmix).")
    teacher: str | None = option(None, "Classification checkpoint to distill from (same classes).", panel=INIT)
    distill_weight: float = option(0.5, "Weight of the distillation loss.", panel=INIT)
    distill_temperature: float = option(1.0, "Softmax temperature of distillation.", panel=INIT)

    @property
    def mixes(self) -> bool:
        return (self.mixup > 0 or self.cutmix > 0) and self.mix_prob > 0

    def flops(self, shape: StepShape) -> StepFlops:
        """Nothing trained beyond the classifier (mixup, erasing and the loss are not matmuls); with
        distillation, the teacher classifier's forward on every token (frozen)."""
        teacher = shape.distilled_from
        frozen = encoder_flops(teacher, teacher.tokens) + 2.0 * teacher.dim * shape.classes if teacher else 0.0
        return StepFlops(0.0, frozen)

    def check(self, cfg) -> None:
        if self.mixes and cfg.batch_size % 2:
            raise ConfigError(f"mixup/cutmix pair each clip with another in the batch: --batch-size must be even, "
                              f"got {cfg.batch_size} (or set --mixup 0 --cutmix 0)")
        if self.teacher and not 0 <= self.distill_weight <= 1:
            raise ConfigError("--distill-weight must be within [0, 1]")
