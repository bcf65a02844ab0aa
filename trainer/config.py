"""Pretraining configuration: frozen dataclasses with per-size presets (the VideoMAE V2 recipe),
loadable from YAML with command-line overrides; derived values are computed, printed at start
and stored in every checkpoint."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from trainer.data.stream import DataConfig


@dataclass(frozen=True)
class PretrainConfig:
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
    precision: str = "fp32"  # fp32 | bf16 | fp16
    grad_checkpointing: bool = False
    compile: bool = False
    drop_path: float = 0.0
    ckpt_every: int = 100
    stop_after: int | None = None  # end this invocation after N steps (with a checkpoint); rerun resumes
    keep_checkpoints: int = 2
    log_every: int = 10
    data: DataConfig = field(default_factory=DataConfig)

    def __post_init__(self):
        if self.precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"precision must be fp32, bf16 or fp16, got {self.precision!r}")
        if self.steps is None and self.epochs is None:
            raise ValueError("give --steps or --epochs")


# Per-size settings of the VideoMAE V2 recipe that differ from the defaults.
PRESETS: dict[str, dict] = {
    "vit_large": {"drop_path": 0.1},
    "vit_huge": {"drop_path": 0.1, "grad_checkpointing": True},
    "vit_giant": {"drop_path": 0.1, "grad_checkpointing": True, "precision": "bf16",
                  "data": {"patch": 14}},
}


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def build_config(overrides: dict, yaml_file: str | Path | dict | None = None, cls: type = PretrainConfig,
                 presets: dict[str, dict] | None = None):
    """Defaults ← size preset ← YAML file (or an already-read mapping) ← command-line overrides
    (None means not given), as a `cls` (PretrainConfig, or FinetuneConfig with its presets)."""
    if isinstance(yaml_file, dict):
        from_file = yaml_file
    else:
        from_file = (yaml.safe_load(Path(yaml_file).read_text()) if yaml_file else None) or {}
    given = {k: v for k, v in overrides.items() if v is not None}
    data_given = {k: v for k, v in given.pop("data", {}).items() if v is not None}
    model = given.get("model") or from_file.get("model") or "vit_base"
    preset = (PRESETS if presets is None else presets).get(model, {})
    doc = _merge(_merge(preset, from_file), {**given, "data": data_given})
    default_data = next(f for f in dataclasses.fields(cls) if f.name == "data").default_factory()
    data = dataclasses.replace(default_data, **doc.pop("data", {}))
    for name in ("shards", "val_shards"):
        if name in {f.name for f in dataclasses.fields(cls)}:
            doc[name] = tuple(doc.get(name) or ())
    for name in ("betas", "crop_scale"):  # YAML gives lists
        if name in doc:
            doc[name] = tuple(doc[name])
    unknown = set(doc) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}")
    return cls(**doc, data=data)


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


def derive(cfg, world: int, clips: int | None) -> Derived:
    total = cfg.batch_size * cfg.accum * world
    if cfg.steps is not None:
        steps = cfg.steps
    elif clips:
        steps = max(1, round(cfg.epochs * clips * cfg.data.num_views / total))
    else:
        raise ValueError("--epochs needs corpus folders (whose clip count is known); give --steps for URL patterns")
    lr = cfg.lr if cfg.lr is not None else cfg.base_lr * total / 256
    return Derived(world, total, lr, steps, int(steps * cfg.warmup_fraction))
