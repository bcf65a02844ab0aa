"""vl's options (UMT's second stage): the text tower's BERT folder and shape, the shared space, the
losses' weights, and the masks; the recipe of UMT's official stage-2 scripts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from manifests.options import option
from trainer.errors import ConfigError
from trainer.measure.flops import StepFlops, StepShape, fusion_flops, text_flops
from trainer.objectives.options.base import ObjectiveOptions

LOSSES = ("uma", "vtc", "vtm", "mlm")


@dataclass(frozen=True)
class VLOptions(ObjectiveOptions):
    name = "vl"
    summary = "video-language: UMA, VTC, VTM and MLM (Unmasked Teacher stage 2)"
    panel = "Video-language (vlpretrain)"
    implementation = "trainer.objectives.vl:VideoLanguage"

    text_weights: str | None = option(None, "A local transformers BERT folder (config.json, weights, vocab.txt) for "
                                      "the text tower; nothing is downloaded. Not needed to go on from a vlpretrain "
                                      "checkpoint.")
    fusion_layers: int = option(3, "The text tower's last layers that cross-attend to the video (UMT: 3 of BERT-base's "
                                "12, 5 of BERT-large's 24).")
    embed_dim: int = option(512, "Width of the shared video-text space (UMT: 512 for B, 768 for L).")
    max_tokens: int = option(32, "Caption tokens, [CLS] and [SEP] included (cut and padded to it).")
    uma_weight: float = option(1.0, "Weight of UMA, the stage-1 alignment to the teacher (0: no teacher, and no mask "
                               "unless --mask-type says otherwise).")
    vtc_weight: float = option(1.0, "Weight of the video-text contrastive loss.")
    vtm_weight: float = option(1.0, "Weight of video-text matching with hard negatives.")
    mlm_weight: float = option(1.0, "Weight of masked language modelling on the fusion layers.")
    image_mask: float = option(0.5, "Share of an image's tokens hidden by the semantic mask (videos: --encoder-mask).")
    mlm_prob: float = option(0.5, "Share of caption tokens masked for MLM (80% [MASK], 10% random, 10% kept).")
    rerank: int = option(128, "Validation: top k of the contrastive ranking re-ranked by the matching head.")

    # UMT's official stage-2 recipe: AdamW 1e-4, betas 0.9/0.999, weight decay 0.02, 10 epochs with
    # 1 of warm-up, 4 frames, drop path 0.1 (B) / 0.2 (L), semantic mask 0.8 on videos
    PRESET: ClassVar[dict] = {"lr": 1e-4, "betas": (0.9, 0.999), "weight_decay": 0.02, "warmup_fraction": 0.1,
                              "drop_path": 0.1, "mask_type": "semantic", "encoder_mask": 0.8,
                              "data": {"frames": 4, "sampling": "segments", "num_views": 1}}
    SIZE_PRESETS: ClassVar[dict] = {"vit_large": {"drop_path": 0.2, "embed_dim": 768, "fusion_layers": 5,
                                                  "teacher": "vit_large_patch14_clip_224"}}
    # retrieval fine-tuning: the same stage with VTC and VTM only, no mask and no teacher
    NO_TEACHER: ClassVar[dict] = {"mask_type": "none", "encoder_mask": 0.0}
    RETRIEVAL: ClassVar[dict] = {"uma_weight": 0.0, "mlm_weight": 0.0, **NO_TEACHER}

    @classmethod
    def presets(cls, model: str) -> list[dict]:
        return [cls.PRESET, cls.SIZE_PRESETS.get(model, {})]

    def weights(self) -> dict[str, float]:
        return {name: getattr(self, f"{name}_weight") for name in LOSSES}

    def flops(self, shape: StepShape) -> StepFlops:
        """One sample's text-side work (its UMA part is umt's options' count):
        - the text tower's text-only layers on the caption (padded to max_tokens: every token costs);
        - vtc: the two projections to the shared space, and the similarities of the batch gathered
          from every rank (each rank computes them all: per sample of its own, ranks rows);
        - vtm: the fusion layers on the pair and on its two hard negatives, the matching head on each;
          the similarities it draws the negatives from run forward only;
        - mlm: the text layers again on the masked caption, the fusion layers with the video, BERT's
          head on mlm_prob of the tokens after [CLS] (an upper bound: padding is never masked)."""
        text, vit, weights, length = shape.text, shape.vit, self.weights(), self.max_tokens
        trained = frozen = 0.0
        if weights["vtc"] or weights["vtm"] or weights["mlm"]:
            trained += text_flops(text, length)
        if weights["vtc"]:
            gathered = shape.batch * shape.ranks
            trained += 2.0 * (vit.dim + text.dim) * shape.embed_dim + 2.0 * gathered * shape.ranks * shape.embed_dim
        if weights["vtm"]:
            trained += 3 * (fusion_flops(text, length, shape.visible, vit.dim) + 2.0 * text.dim * 2)
            frozen += 2.0 * shape.batch * shape.embed_dim
        if weights["mlm"]:
            masked = self.mlm_prob * (length - 1)
            trained += (text_flops(text, length) + fusion_flops(text, length, shape.visible, vit.dim)
                        + masked * 2.0 * (text.dim * text.dim + text.dim * text.vocab_size))
        return StepFlops(trained, frozen)

    def check(self, cfg) -> None:
        if any(w < 0 for w in self.weights().values()) or not any(self.weights().values()):
            raise ConfigError(f"loss weights must be at least 0 and not all 0, got {self.weights()}")
        if not 0 <= self.image_mask < 1 or not 0 < self.mlm_prob < 1:
            raise ConfigError(f"image_mask must be within [0, 1) and mlm_prob within (0, 1), got {self.image_mask} "
                              f"and {self.mlm_prob}")
        if self.max_tokens < 4 or self.fusion_layers < 1 or self.embed_dim < 1 or self.rerank < 1:
            raise ConfigError("max_tokens must be at least 4, fusion_layers, embed_dim and rerank at least 1")
