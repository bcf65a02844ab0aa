"""Training configuration: one tree of frozen dataclasses. TrainConfig holds what every stage has
(schedule, precision, checkpoints, and the `data` section whose geometry data, model and masks all
read); PretrainConfig and FinetuneConfig build on it. A run's values come from, lowest first:
defaults ← size preset ← objective preset ← the --init checkpoint's geometry ← YAML ← command line.
Option names are field names, so a command passes its options through as they are; derived
values (total batch, LR, steps) are printed at start and stored in every checkpoint."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import yaml

from trainer import checkpoint
from trainer.data.config import DataConfig
from trainer.data.masking import ENCODER_MASKS
from trainer.errors import CheckpointError
from trainer.objectives import needs_decoder, part_names

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
            raise ValueError(f"precision must be fp32, bf16 or fp16, got {self.precision!r}")
        if self.steps is None and self.epochs is None:
            raise ValueError("give --steps or --epochs")
        if self.nan not in ("stop", "skip"):
            raise ValueError(f"nan must be stop or skip, got {self.nan!r}")
        if self.fsdp and self.precision == "fp16":
            raise ValueError("--fsdp trains in fp32 or bf16 (its mixed-precision policy): use --precision bf16")

    @classmethod
    def presets(cls, doc: dict) -> list[dict]:
        """Layers of defaults that depend on what the user chose (size, objective, --init). A run
        started from a checkpoint takes its size and clip geometry unless told otherwise: a UMT
        student (8 sparse frames, tubelet 1) trains on as it was pretrained."""
        layers = []
        if doc.get("init"):
            try:  # the file is mapped, not read: only its settings are looked at
                ckpt = checkpoint.read(doc["init"], lazy=True)
            except CheckpointError:
                ckpt = None  # the stage reports it with its message
            if ckpt is not None:
                layers.append({"data": ckpt.geometry(), **({"model": ckpt.model_name} if ckpt.model_name else {})})
        model = doc.get("model") or next((x["model"] for x in layers if "model" in x), None) or "vit_base"
        return [cls.SIZE_PRESETS.get(model, {}), *cls.recipe_presets(doc, model), *layers]

    @classmethod
    def recipe_presets(cls, doc: dict, model: str) -> list[dict]:
        """Defaults of the recipe the options choose (UMT's), between the size's and --init's."""
        return []


@dataclass(frozen=True)
class PretrainConfig(TrainConfig):
    objective: str = "mae"  # mae | umt | mae+umt
    objective_weights: dict[str, float] = field(default_factory=dict)  # per part of a sum; 1 when absent
    mask_type: str = "tube"  # encoder mask: tube | random | semantic (UMT: sampled by the teacher's attention)
    encoder_mask: float = 0.9
    decoder_mask: float = 0.5  # running cell; 0 decodes every hidden token (the original VideoMAE)
    teacher: str = "vit_base_patch16_clip_224"  # timm architecture of UMT's image teacher
    teacher_weights: str | None = None  # timm / OpenCLIP / OpenAI CLIP state dict; 'random' for trials
    teacher_img_size: int | None = None  # default: the student's token grid × the teacher's patch
    align_layers: int = 6  # UMT: the student's last K blocks aligned to the teacher's last K
    teacher_precision: str = "auto"  # bf16 | fp32 | auto (bf16 on a GPU or in a bf16 run)

    SIZE_PRESETS: ClassVar[dict[str, dict]] = {  # the VideoMAE V2 recipe's per-size settings
        "vit_large": {"drop_path": 0.1},
        "vit_huge": {"drop_path": 0.1, "grad_checkpointing": True},
        "vit_giant": {"drop_path": 0.1, "grad_checkpointing": True, "precision": "bf16", "data": {"patch": 14}},
    }
    # UMT's official scripts: 8 sparse frames, tubelet 1, semantic mask 0.8, 40 of 201 epochs warm-up
    UMT_PRESET: ClassVar[dict] = {"mask_type": "semantic", "encoder_mask": 0.8, "warmup_fraction": 0.2,
                                  "drop_path": 0.1, "data": {"frames": 8, "tubelet": 1, "sampling": "segments"}}
    UMT_SIZE_PRESETS: ClassVar[dict[str, dict]] = {
        "vit_large": {"drop_path": 0.2, "teacher": "vit_large_patch14_clip_224"},
    }

    def __post_init__(self):
        super().__post_init__()
        names = part_names(self.objective)
        if self.mask_type not in ENCODER_MASKS:
            raise ValueError(f"mask_type must be one of {', '.join(ENCODER_MASKS)}, got {self.mask_type!r}")
        if self.mask_type == "semantic" and "umt" not in names:
            raise ValueError("semantic masking samples by a teacher's attention: it needs --objective umt or mae+umt")
        if "umt" in names and not self.teacher_weights:
            raise ValueError("UMT needs its teacher's weights: --teacher-weights FILE (a timm, OpenCLIP or OpenAI CLIP "
                             "state dict of the --teacher architecture; nothing is downloaded), or 'random' for a "
                             "trial run with a random teacher")
        if self.teacher_precision not in ("auto", "bf16", "fp32"):
            raise ValueError(f"teacher_precision must be auto, bf16 or fp32, got {self.teacher_precision!r}")
        unknown = set(self.objective_weights) - set(names)
        if unknown:
            raise ValueError(f"objective weights for {sorted(unknown)}, which are not in --objective {self.objective}")

    @classmethod
    def recipe_presets(cls, doc: dict, model: str) -> list[dict]:
        if "umt" in part_names(doc.get("objective") or "mae"):
            return [cls.UMT_PRESET, cls.UMT_SIZE_PRESETS.get(model, {})]
        return []

    @property
    def decoder(self) -> bool:
        return needs_decoder(self.objective)


@dataclass(frozen=True)
class FinetuneConfig(TrainConfig):
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
    data: DataConfig = field(default_factory=lambda: DataConfig(num_views=2))

    SIZE_PRESETS: ClassVar[dict[str, dict]] = {  # the VideoMAE V2 fine-tuning recipe's per-size settings
        "vit_large": {"drop_path": 0.2, "layer_decay": 0.8},
        "vit_huge": {"drop_path": 0.2, "layer_decay": 0.85, "grad_checkpointing": True},
        "vit_giant": {"drop_path": 0.3, "layer_decay": 0.9, "head_dropout": 0.5, "grad_checkpointing": True,
                      "precision": "bf16", "data": {"patch": 14, "num_views": 2}},
    }

    def __post_init__(self):
        super().__post_init__()
        if self.stage not in ("postpretrain", "finetune"):
            raise ValueError(f"stage must be postpretrain or finetune, got {self.stage!r}")
        if (self.mixup > 0 or self.cutmix > 0) and self.mix_prob > 0 and self.batch_size % 2:
            raise ValueError(f"mixup/cutmix pair each clip with another in the batch: --batch-size must be even, "
                             f"got {self.batch_size} (or set --mixup 0 --cutmix 0)")
        if self.label_map and (self.label_map_from or self.label_map_to):
            raise ValueError("give --label-map or --label-map-from/--label-map-to, not both")
        if self.teacher and not 0 <= self.distill_weight <= 1:
            raise ValueError("--distill-weight must be within [0, 1]")
        if self.fsdp and self.ema:
            raise ValueError("--ema keeps a whole copy of the model, which --fsdp is there to avoid: use one or the "
                             "other")


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _defaults(cls: type) -> dict:
    return {f.name: (f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default)
            for f in dataclasses.fields(cls)}


def nest(cls: type, options: dict) -> dict:
    """Flat option names (as a command's parameters are named) -> the config's sections: a name
    that is a field of the data section goes there. None means not given."""
    data_fields = set(DataConfig.__dataclass_fields__)
    top = {f.name for f in dataclasses.fields(cls)}
    doc: dict = {}
    for key, value in options.items():
        if value is None:
            continue
        if key in top:
            doc[key] = value
        elif key in data_fields:
            doc.setdefault("data", {})[key] = value
        else:
            raise ValueError(f"{key!r} is not a setting of {cls.__name__}")
    return doc


def build_config(cls: type, options: dict, yaml_file: str | Path | dict | None = None):
    """A `cls` from command-line options (flat, None = not given) over a YAML file (or an
    already-read mapping) over the presets over the defaults."""
    if isinstance(yaml_file, dict):
        from_file = yaml_file
    else:
        from_file = (yaml.safe_load(Path(yaml_file).read_text()) if yaml_file else None) or {}
    chosen = _merge(from_file, nest(cls, options))
    doc = chosen
    for layer in reversed(cls.presets(chosen)):
        doc = _merge(layer, doc)
    defaults = _defaults(cls)
    unknown = set(doc) - set(defaults)
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}")
    data_given = doc.pop("data", {}) or {}
    unknown = set(data_given) - set(DataConfig.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown data settings {sorted(unknown)}")
    for key, value in doc.items():  # YAML and repeated options give lists where the config keeps tuples
        if isinstance(defaults[key], tuple) and isinstance(value, list | tuple):
            doc[key] = tuple(value)
    if isinstance(doc.get("objective_weights"), list | tuple):
        doc["objective_weights"] = parse_weights(doc["objective_weights"])
    return cls(**doc, data=dataclasses.replace(defaults["data"], **data_given))


def parse_weights(items) -> dict[str, float]:
    """['mae=0.5', 'umt=1'] -> {'mae': 0.5, 'umt': 1.0}."""
    out = {}
    for item in items:
        name, _, value = str(item).partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"objective weight {item!r}: write NAME=WEIGHT, e.g. mae=0.5") from None
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
        raise ValueError("--epochs needs corpus folders (whose clip count is known); give --steps for URL patterns")
    lr = cfg.lr if cfg.lr is not None else cfg.base_lr * total / 256
    return Derived(world, total, lr, steps, int(steps * cfg.warmup_fraction))

