"""What an objective's options class is: a frozen dataclass of the settings only that objective
reads (each field's help text in its metadata, for the CLI), the recipe presets it brings, the
checks it makes of the whole run config, and the FLOPs it adds to a step. Plain data, no torch: the
CLI builds its options and help from these classes without loading the trainer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from trainer.measure.flops import StepFlops, StepShape


@dataclass(frozen=True)
class ObjectiveOptions:
    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""  # one line, for the list of objectives in --help
    panel: ClassVar[str] = ""  # the CLI help panel its options are listed under
    # "module:Class" of the objective itself, imported when a run builds it (it needs torch)
    implementation: ClassVar[str] = ""
    needs_decoder: ClassVar[bool] = False  # the model keeps VideoMAE's pixel decoder
    masks_by_teacher: ClassVar[bool] = False  # can choose the encoder's mask (semantic masking)

    @classmethod
    def presets(cls, model: str) -> list[dict]:
        """Layers of defaults this objective's recipe brings for a model size (lowest first)."""
        return []

    def check(self, cfg: Any) -> None:
        """Checks of the run config when this objective is chosen; ConfigError with what to do."""

    def flops(self, shape: StepShape) -> StepFlops:
        """The FLOPs of one sample this objective adds to its model family's forward (a decoder,
        heads, a frozen teacher, losses), for the MFU of a run and of `vmae bench`. Every objective
        states its cost: without it a run's MFU would silently leave the objective's work out."""
        raise NotImplementedError(f"the {self.name} objective does not state its FLOPs: write its flops()")
