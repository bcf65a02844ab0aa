"""mae's options: VideoMAE V2's decoder mask (dual masking)."""

from __future__ import annotations

from dataclasses import dataclass

from manifests.options import option
from trainer.errors import ConfigError
from trainer.objectives.options.base import ObjectiveOptions


@dataclass(frozen=True)
class MAEOptions(ObjectiveOptions):
    name = "mae"
    summary = "dual masking (VideoMAE V2)"
    panel = "VideoMAE V2 (--objective mae)"
    implementation = "trainer.objectives.mae:MAE"
    needs_decoder = True

    decoder_mask: float = option(0.5, "Running-cell ratio of the decoder's mask (0 = decode every hidden token).")

    def check(self, cfg) -> None:
        if not 0 <= self.decoder_mask < 1:
            raise ConfigError(f"decoder_mask must be within [0, 1), got {self.decoder_mask}")
