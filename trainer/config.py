"""Training configuration: one tree of frozen dataclasses. TrainConfig holds what every stage has
(schedule, precision, checkpoints, and the `data` section whose geometry data, model and masks all
read); PretrainConfig and FinetuneConfig build on it, with a section per objective (its options
class, trainer/objectives/options/). A run's values come from, lowest first: defaults ← size preset
← objective presets ← the --init checkpoint's geometry ← YAML ← command line.

Option names are field names, and a section's fields are named uniquely across the config, so a
command (or a YAML file) gives them flat: `teacher_weights: x` sets `umt.teacher_weights`.
Building a config reads no files: the caller hands over the YAML's contents and what the --init
checkpoint says (trainer/settings.py does both). Derived values (total batch, LR, steps) are
printed at start and stored in every checkpoint."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

from manifests.options import defaults, merge, nest, sections
from trainer.data.config import DataConfig
from trainer.data.masking import ENCODER_MASKS
from trainer.errors import ConfigError
from trainer.objectives.options import (
    PRETRAIN,
    MAEOptions,
    ObjectiveOptions,
    SupervisedOptions,
    UMTOptions,
    VLOptions,
    part_names,
)

PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass(frozen=True)
class TrainConfig:
    shards: tuple[str, ...] = ()
    out: str = ""
    model: str = "vit_base"
    steps: int | None = None
    epochs: float | None = None  # converted to steps from the corpus' clip count
    batch_size: int = 8  # per process, per micro-step
    accum: int = 1
    lr: float | None = None  # absolute; default base_lr × total batch / 256
    base_lr: float = 1.5e-4
    min_lr: float = 1e-6
    warmup_fraction: float = 0.05
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.95)
    clip_grad: float | None = 1.0
    precision: str = "fp32"
    grad_checkpointing: bool = False
    compile: bool = False
    fsdp: bool = False  # FSDP2: weights, gradients and optimizer state sharded over the ranks
    nan: str = "stop"  # a step with a non-finite loss: stop (with a message) | skip (no update)
    drop_path: float = 0.0
    ckpt_every: int = 100
    stop_after: int | None = None  # end this invocation after N steps (with a checkpoint); rerun resumes
    keep_checkpoints: int = 2
    # weights to start from: our checkpoint (or run folder), an export, a transformers folder, or a released file
    init: str | None = None
    data: DataConfig = field(default_factory=DataConfig)

    SIZE_PRESETS: ClassVar[dict[str, dict]] = {}

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be fp32, bf16 or fp16, got {self.precision!r}")
        if self.steps is None and self.epochs is None:
            raise ConfigError("give --steps or --epochs")
        if self.nan not in ("stop", "skip"):
            raise ConfigError(f"nan must be stop or skip, got {self.nan!r}")
        if self.fsdp and self.precision == "fp16":
            raise ConfigError("--fsdp trains in fp32 or bf16 (its mixed-precision policy): use --precision bf16")
        for options in self.chosen():
            options.check(self)

    def chosen(self) -> list[ObjectiveOptions]:
        """The options of the objectives this run trains with (their checks and presets apply)."""
        return []

    @classmethod
    def chosen_classes(cls, doc: dict) -> list[type[ObjectiveOptions]]:
        """The options classes a (nested) settings document chooses, before the config exists."""
        return []

    @classmethod
    def presets(cls, doc: dict, started_from: dict | None = None) -> list[dict]:
        """Layers of defaults that depend on what the user chose: the size's, the chosen objectives'
        recipes, and what the --init checkpoint says (`started_from`: its size and clip geometry,
        so that a UMT student of 8 sparse frames and tubelet 1 trains on as it was pretrained)."""
        started_from = started_from or {}
        model = doc.get("model") or started_from.get("model") or "vit_base"
        recipes = [layer for options in cls.chosen_classes(doc) for layer in options.presets(model)]
        return [cls.SIZE_PRESETS.get(model, {}), *recipes, started_from]


@dataclass(frozen=True)
class PretrainConfig(TrainConfig):
    """Stage 1: one section per objective of PRETRAIN (a test holds them equal)."""

    objective: str = "mae"  # one of PRETRAIN's parts, or several joined by '+'
    objective_weights: dict[str, float] = field(default_factory=dict)  # per part of a sum; 1 when absent
    # the encoder's mask, shared by every part: tube | random | semantic (sampled by a teacher's attention)
    mask_type: str = "tube"
    encoder_mask: float = 0.9
    mae: MAEOptions = field(default_factory=MAEOptions)
    umt: UMTOptions = field(default_factory=UMTOptions)
    # 4 views (crop + masks) per decoded clip, as VideoMAE V2's pretraining (--num_sample 4): a
    # quarter of the decoding per trained clip (bench/feed.py); an epoch decodes every clip once
    data: DataConfig = field(default_factory=lambda: DataConfig(num_views=4))

    SIZE_PRESETS: ClassVar[dict[str, dict]] = {  # the VideoMAE V2 recipe's per-size settings
        "vit_large": {"drop_path": 0.1},
        "vit_huge": {"drop_path": 0.1, "grad_checkpointing": True},
        "vit_giant": {"drop_path": 0.1, "grad_checkpointing": True, "precision": "bf16", "data": {"patch": 14}},
    }

    def __post_init__(self):
        names = part_names(self.objective)
        if self.mask_type not in ENCODER_MASKS:
            raise ConfigError(f"mask_type must be one of {', '.join(ENCODER_MASKS)}, got {self.mask_type!r}")
        if self.mask_type == "semantic" and not any(PRETRAIN[n].masks_by_teacher for n in names):
            teachers = [n for n, o in PRETRAIN.items() if o.masks_by_teacher]
            raise ConfigError(f"semantic masking samples by a teacher's attention: it needs --objective "
                              f"{' or '.join(teachers)} (alone or in a sum)")
        unknown = set(self.objective_weights) - set(names)
        if unknown:
            raise ConfigError(f"objective weights for {sorted(unknown)}, which are not in --objective {self.objective}")
        super().__post_init__()

    def chosen(self) -> list[ObjectiveOptions]:
        return [getattr(self, name) for name in part_names(self.objective)]

    @classmethod
    def chosen_classes(cls, doc: dict) -> list[type[ObjectiveOptions]]:
        return [PRETRAIN[name] for name in part_names(doc.get("objective") or "mae")]

    @property
    def decoder(self) -> bool:
        return any(PRETRAIN[name].needs_decoder for name in part_names(self.objective))




@dataclass(frozen=True)
class FinetuneConfig(TrainConfig):
    """Stages 2 and 3 (postpretrain, finetune: the same recipe): one section per objective of SUPERVISED."""

    val_shards: tuple[str, ...] = ()  # validation corpus, scored single-view every val_every steps
    stage: str = "finetune"  # postpretrain | finetune: names the run, same recipe
    label_map: str | None = None  # index map: JSON list, or a label_maps/kNNN.json with "index"
    label_map_from: str | None = None  # class names of the init checkpoint's head, one per line
    label_map_to: str | None = None  # class names of the target, one per line (default: corpus labels.txt)
    new_head: bool = False  # a head of another size with no map: start a new head instead of stopping
    base_lr: float = 1e-3  # for a total batch of 256
    warmup_fraction: float = 0.1
    layer_decay: float = 0.75  # LR of layer l is lr · decay^(depth + 1 − l); 1 turns it off
    betas: tuple[float, float] = (0.9, 0.999)
    clip_grad: float | None = None
    drop_path: float = 0.1
    head_dropout: float = 0.0
    # augmentation (per clip: every frame gets the same crop, flip and RandAugment ops)
    rand_augment: str = "n4-m7"  # "nN-mM": N ops of magnitude M (of 10); "" turns it off
    crop_scale: tuple[float, float] = (0.08, 1.0)
    flip: bool = True  # off for data where left and right differ (Something-Something)
    ema: float | None = None  # decay of an exponential moving average of the weights
    val_every: int = 0  # 0: at the end only (when val_shards are given)
    data: DataConfig = field(default_factory=lambda: DataConfig(num_views=2))
    supervised: SupervisedOptions = field(default_factory=SupervisedOptions)

    SIZE_PRESETS: ClassVar[dict[str, dict]] = {  # the VideoMAE V2 fine-tuning recipe's per-size settings
        "vit_large": {"drop_path": 0.2, "layer_decay": 0.8},
        "vit_huge": {"drop_path": 0.2, "layer_decay": 0.85, "grad_checkpointing": True},
        "vit_giant": {"drop_path": 0.3, "layer_decay": 0.9, "head_dropout": 0.5, "grad_checkpointing": True,
                      "precision": "bf16", "data": {"patch": 14, "num_views": 2}},
    }

    def __post_init__(self):
        super().__post_init__()
        if self.stage not in ("postpretrain", "finetune"):
            raise ConfigError(f"stage must be postpretrain or finetune, got {self.stage!r}")
        if self.label_map and (self.label_map_from or self.label_map_to):
            raise ConfigError("give --label-map or --label-map-from/--label-map-to, not both")
        if self.fsdp and self.ema:
            raise ConfigError("--ema keeps a whole copy of the model, which --fsdp is there to avoid: use one or the "
                              "other")

    def chosen(self) -> list[ObjectiveOptions]:
        return [self.supervised]

    @classmethod
    def chosen_classes(cls, doc: dict) -> list[type[ObjectiveOptions]]:
        return [SupervisedOptions]




VL_MASKS = ("semantic", "none")
# what a stage-1 student brings to the video-language stage: its token grid (the recipe's 4 frames stay)
_STUDENT_GEOMETRY = ("patch", "tubelet", "img_size")


@dataclass(frozen=True)
class VLConfig(TrainConfig):
    """UMT's second stage: one section per objective of VIDEO_LANGUAGE (its own, and umt's for UMA)."""

    image_shards: tuple[str, ...] = ()  # captioned image corpora; steps of images and of videos alternate
    val_shards: tuple[str, ...] = ()  # a captioned corpus scored by retrieval every val_every steps
    val_every: int = 0  # 0: at the end only (when val_shards are given)
    mask_type: str = "semantic"  # semantic (by the teacher's attention) | none
    encoder_mask: float = 0.8  # of a video's tokens; an image's: vl.image_mask
    retrieval: bool = False  # retrieval fine-tuning: VTC and VTM only, no mask, no teacher
    flip: bool = True  # off where captions say left or right
    vl: VLOptions = field(default_factory=VLOptions)
    umt: UMTOptions = field(default_factory=UMTOptions)

    def __post_init__(self):
        if self.mask_type not in VL_MASKS:
            raise ConfigError(f"mask_type must be semantic or none here, got {self.mask_type!r}")
        if self.mask_type == "semantic" and not self.vl.uma_weight:
            raise ConfigError("the semantic mask is the teacher's: it needs --uma-weight above 0 (or --mask-type none)")
        if not self.shards and not self.image_shards:
            raise ConfigError("give captioned corpora: --shards (videos) and/or --image-shards (images)")
        super().__post_init__()

    def chosen(self) -> list[ObjectiveOptions]:
        return [self.vl, *([self.umt] if self.vl.uma_weight > 0 else [])]

    @classmethod
    def chosen_classes(cls, doc: dict) -> list[type[ObjectiveOptions]]:
        return [VLOptions]

    @classmethod
    def presets(cls, doc: dict, started_from: dict | None = None) -> list[dict]:
        started_from = dict(started_from or {})
        started_from["data"] = {k: v for k, v in started_from.get("data", {}).items() if k in _STUDENT_GEOMETRY}
        *recipes, init = super().presets(doc, started_from)
        # --uma-weight 0 has no teacher, so the teacher's (semantic) mask goes too unless --mask-type says
        no_teacher = (doc.get("vl") or {}).get("uma_weight") == 0
        return [*recipes, *([VLOptions.RETRIEVAL] if doc.get("retrieval") else []),
                *([VLOptions.NO_TEACHER] if no_teacher else []), init]




def build_config(cls: type, options: dict, from_file: dict | None = None, started_from: dict | None = None):
    """A `cls` from command-line options (flat, None = not given) over a YAML file's contents over
    the presets (with what the --init checkpoint says, `started_from`) over the defaults."""
    chosen = merge(nest(cls, from_file or {}), nest(cls, options))
    doc = chosen
    for layer in reversed(cls.presets(chosen, started_from)):
        doc = merge(nest(cls, layer), doc)
    base = defaults(cls)
    given = {name: doc.pop(name, {}) or {} for name in sections(cls)}
    for key, value in doc.items():  # YAML and repeated options give lists where the config keeps tuples
        if isinstance(base[key], tuple) and isinstance(value, list | tuple):
            doc[key] = tuple(value)
    if isinstance(doc.get("objective_weights"), list | tuple):
        doc["objective_weights"] = parse_weights(doc["objective_weights"])
    parts = {}
    for name, values in given.items():
        try:
            parts[name] = dataclasses.replace(base[name], **values)
        except ValueError as e:  # the data section's checks
            raise ConfigError(str(e)) from e
    return cls(**doc, **parts)


def parse_weights(items) -> dict[str, float]:
    """['mae=0.5', 'umt=1'] -> {'mae': 0.5, 'umt': 1.0}."""
    out = {}
    for item in items:
        name, _, value = str(item).partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"objective weight {item!r}: write NAME=WEIGHT, e.g. mae=0.5") from None
    return out


@dataclass(frozen=True)
class Derived:
    world: int
    total_batch: int
    lr: float
    steps: int
    warmup_steps: int

    def describe(self) -> str:
        return (f"world {self.world} × batch × accum = total batch {self.total_batch}; lr {self.lr:.3g}; "
                f"{self.steps} steps ({self.warmup_steps} warm-up)")


def derive(cfg: TrainConfig, world: int, clips: int | None) -> Derived:
    total = cfg.batch_size * cfg.accum * world
    if cfg.steps is not None:
        steps = cfg.steps
    elif clips:
        steps = max(1, round(cfg.epochs * clips * cfg.data.num_views / total))
    else:
        raise ConfigError("--epochs needs corpus folders (whose clip count is known); give --steps for URL patterns")
    lr = cfg.lr if cfg.lr is not None else cfg.base_lr * total / 256
    return Derived(world, total, lr, steps, int(steps * cfg.warmup_fraction))

