"""mae's options: VideoMAE V2's decoder mask (dual masking)."""

from __future__ import annotations

from dataclasses import dataclass

from manifests.options import option
from trainer.errors import ConfigError
from trainer.measure.flops import StepFlops, StepShape, decoder_flops
from trainer.objectives.options.base import ObjectiveOptions


@dataclass(frozen=True)
class MAEOptions(ObjectiveOptions):
    name = "mae"
    summary = "dual masking (VideoMAE V2)"
    panel = "VideoMAE V2 (--objective mae)"
    implementation = "trainer.objectives.mae:MAE"
    needs_decoder = True

    decoder_mask: float = option(0.5, "Running-cell ratio of the decoder's mask (0 = decode every hidden token).")

    def flops(self, shape: StepShape) -> StepFlops:
        """The decoder: the visible tokens plus its mask tokens at the positions its running-cell mask
        keeps (1 - decoder_mask of all), or at every hidden one (decoder_mask 0, or a semantic mask
        that no running cell matches); its pixel head on the rebuilt ones."""
        vit = shape.vit
        whole = self.decoder_mask == 0 or shape.mask_type == "semantic"
        rebuilt = shape.hidden if whole else vit.tokens - round(vit.tokens * self.decoder_mask)
        return StepFlops(decoder_flops(vit, shape.visible, rebuilt))

    def check(self, cfg) -> None:
        if not 0 <= self.decoder_mask < 1:
            raise ConfigError(f"decoder_mask must be within [0, 1), got {self.decoder_mask}")
