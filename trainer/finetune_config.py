"""Settings of the supervised stages (2: post-pretraining on the labeled hybrid, 3: fine-tuning on
the target): the VideoMAE V2 fine-tuning recipe as defaults, per-size presets, YAML + overrides
through trainer.config.build_config."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from trainer.config import build_config
from trainer.data.stream import DataConfig


@dataclass(frozen=True)
class FinetuneConfig:
    shards: tuple[str, ...] = ()
    val_shards: tuple[str, ...] = ()  # validation corpus, scored single-view every val_every steps
    out: str = ""
    stage: str = "finetune"  # postpretrain | finetune: names the run, same recipe
    model: str = "vit_base"
    init: str | None = None  # our stage-1 or stage-2 checkpoint (or run folder), or a released file
    label_map: str | None = None  # index map: JSON list, or a label_maps/kNNN.json with "index"
    label_map_from: str | None = None  # class names of the init checkpoint's head, one per line
    label_map_to: str | None = None  # class names of the target, one per line (default: corpus labels.txt)
    new_head: bool = False  # a head of another size with no map: start a new head instead of stopping
    steps: int | None = None
    epochs: float | None = None
    batch_size: int = 8
    accum: int = 1
    lr: float | None = None
    base_lr: float = 1e-3  # for a total batch of 256
    min_lr: float = 1e-6
    warmup_fraction: float = 0.1
    weight_decay: float = 0.05
    layer_decay: float = 0.75  # LR of layer l is lr · decay^(depth + 1 − l); 1 turns it off
    betas: tuple[float, float] = (0.9, 0.999)
    clip_grad: float | None = None
    precision: str = "fp32"
    grad_checkpointing: bool = False
    compile: bool = False
    drop_path: float = 0.1
    head_dropout: float = 0.0
    # augmentation (per clip: every frame gets the same crop, flip and RandAugment ops)
    rand_augment: str = "n4-m7"  # "nN-mM": N ops of magnitude M (of 10); "" turns it off
    crop_scale: tuple[float, float] = (0.08, 1.0)
    flip: bool = True  # off for data where left and right differ (Something-Something)
    erase_prob: float = 0.25
    mixup: float = 0.8  # Beta(α, α) for mixup, 0 turns it off
    cutmix: float = 1.0
    mix_prob: float = 1.0
    smoothing: float = 0.1
    ema: float | None = None  # decay of an exponential moving average of the weights
    teacher: str | None = None  # classification checkpoint to distill from (same classes)
    distill_weight: float = 0.5
    distill_temperature: float = 1.0
    val_every: int = 0  # 0: at the end only (when val_shards are given)
    ckpt_every: int = 100
    stop_after: int | None = None
    keep_checkpoints: int = 2
    data: DataConfig = field(default_factory=lambda: DataConfig(num_views=2))

    def __post_init__(self):
        if self.stage not in ("postpretrain", "finetune"):
            raise ValueError(f"stage must be postpretrain or finetune, got {self.stage!r}")
        if self.precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"precision must be fp32, bf16 or fp16, got {self.precision!r}")
        if self.steps is None and self.epochs is None:
            raise ValueError("give --steps or --epochs")
        if (self.mixup > 0 or self.cutmix > 0) and self.mix_prob > 0 and self.batch_size % 2:
            raise ValueError(f"mixup/cutmix pair each clip with another in the batch: --batch-size must be even, "
                             f"got {self.batch_size} (or set --mixup 0 --cutmix 0)")
        if self.label_map and (self.label_map_from or self.label_map_to):
            raise ValueError("give --label-map or --label-map-from/--label-map-to, not both")
        if self.teacher and not 0 <= self.distill_weight <= 1:
            raise ValueError("--distill-weight must be within [0, 1]")


# Per-size settings of the VideoMAE V2 fine-tuning recipe that differ from the defaults.
FINETUNE_PRESETS: dict[str, dict] = {
    "vit_large": {"drop_path": 0.2, "layer_decay": 0.8},
    "vit_huge": {"drop_path": 0.2, "layer_decay": 0.85, "grad_checkpointing": True},
    "vit_giant": {"drop_path": 0.3, "layer_decay": 0.9, "head_dropout": 0.5, "grad_checkpointing": True,
                  "precision": "bf16", "data": {"patch": 14, "num_views": 2}},
}


def build_finetune_config(overrides: dict, yaml_file: str | Path | dict | None = None) -> FinetuneConfig:
    return build_config(overrides, yaml_file, cls=FinetuneConfig, presets=FINETUNE_PRESETS)
