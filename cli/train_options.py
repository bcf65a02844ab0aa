"""The train commands' options, each declared once: those every stage has, the data section's, each
stage's own, and each objective's (made from its options class, with its help text, by
cli/options.py, which makes the commands of both halves); the lists of sizes and objectives in the
help come from the registries."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.common import (
    AUG,
    INIT,
    Accum,
    BaseLr,
    BatchSize,
    CkptEvery,
    Compile,
    ConfigFile,
    DecodeDevice,
    Decoder,
    DropPath,
    Epochs,
    Frames,
    Fsdp,
    GradCheckpointing,
    ImgSize,
    Init,
    Lr,
    ModelSize,
    Nan,
    NumViews,
    Out,
    Precision,
    ResizeOn,
    Sampling,
    Seed,
    Shards,
    ShuffleBuffer,
    Steps,
    StopAfter,
    Stride,
    Tubelet,
    WarmupFraction,
    WeightDecay,
    Workers,
)
from cli.options import options_of
from trainer.objectives.options import PRETRAIN, ObjectiveOptions, described

# every training stage
SHARED: dict[str, Any] = {
    "shards": Shards, "out": Out, "model": ModelSize, "config": ConfigFile, "init": Init, "steps": Steps,
    "epochs": Epochs, "batch_size": BatchSize, "accum": Accum, "lr": Lr, "base_lr": BaseLr,
    "warmup_fraction": WarmupFraction, "weight_decay": WeightDecay, "drop_path": DropPath, "precision": Precision,
    "grad_checkpointing": GradCheckpointing, "compile": Compile, "fsdp": Fsdp, "nan": Nan, "ckpt_every": CkptEvery,
    "stop_after": StopAfter,
}
DATA: dict[str, Any] = {
    "frames": Frames, "stride": Stride, "sampling": Sampling, "img_size": ImgSize, "tubelet": Tubelet,
    "num_views": NumViews, "workers": Workers, "decoder": Decoder, "decode_device": DecodeDevice,
    "resize_on": ResizeOn, "shuffle_buffer": ShuffleBuffer, "seed": Seed,
}

MASKS: dict[str, Any] = {
    "mask_type": Annotated[str | None, typer.Option(help="Encoder mask: tube (MAE default), random, semantic (UMT "
                                                         "default: sampled by the teacher's attention), or none "
                                                         "(vlpretrain: semantic or none).")],
    "encoder_mask": Annotated[float | None, typer.Option(help="Share of a video's tokens hidden from the encoder "
                                                              "(MAE 0.9, UMT 0.8).")],
}
PRETRAINING: dict[str, Any] = {
    "objective": Annotated[str | None, typer.Option(help=f"{described(PRETRAIN)}; or a sum joined by '+' (e.g. "
                                                         "mae+umt: both losses, one encoder pass).")],
    "objective_weights": Annotated[list[str] | None, typer.Option(
        "--objective-weight", help="NAME=WEIGHT of a part of the objective, e.g. mae=0.5; repeat.")],
}
VALIDATION: dict[str, Any] = {
    "val_shards": Annotated[list[str] | None, typer.Option(help="Validation corpus (single view); repeat.")],
    "val_every": Annotated[int | None, typer.Option(help="Steps between validations (0: at the end).")],
}
VIDEO_LANGUAGE_STAGE: dict[str, Any] = {
    "image_shards": Annotated[list[str] | None, typer.Option(help="Captioned image corpus (image-text pairs); "
                                                                  "repeat. Steps of images and videos alternate.")],
    "retrieval": Annotated[bool | None, typer.Option(help="Retrieval fine-tuning: VTC and VTM only, no mask, no "
                                                          "teacher; the best checkpoint by validation retrieval.")],
}

SUPERVISED_STAGE: dict[str, Any] = {
    "label_map": Annotated[str | None, typer.Option(help="Head rows for the target's classes: a JSON list "
                                                         "(label_710to400.json) or a corpus' label_maps/k400.json.",
                                                    rich_help_panel=INIT)],
    "label_map_from": Annotated[str | None, typer.Option(help="Class names of the --init head, one per line.",
                                                         rich_help_panel=INIT)],
    "label_map_to": Annotated[str | None, typer.Option(help="Class names of the target, one per line.",
                                                       rich_help_panel=INIT)],
    "new_head": Annotated[bool | None, typer.Option(help="Start a new head when the --init head does not fit.",
                                                    rich_help_panel=INIT)],
    "layer_decay": Annotated[float | None, typer.Option(help="Layer-wise LR decay (1: off).")],
    "ema": Annotated[float | None, typer.Option(help="Keep an EMA of the weights with this decay (validated and kept "
                                                     "as best).", rich_help_panel=AUG)],
    "rand_augment": Annotated[str | None, typer.Option(help="'n4-m7': RandAugment ops and magnitude; '' none.",
                                                       rich_help_panel=AUG)],
}
AUGMENT: dict[str, Any] = {
    "flip": Annotated[bool | None, typer.Option(help="Random horizontal flips (--no-flip for data, or captions, "
                                                     "where left and right differ).", rich_help_panel=AUG)],
}


# the option groups a stage's command is made of (trainer/stages/specs.py names them); "objectives"
# is the options of every objective the stage accepts
GROUPS: dict[str, dict[str, Any]] = {
    "shared": SHARED, "data": DATA, "masks": MASKS, "pretraining": PRETRAINING, "validation": VALIDATION,
    "video_language_stage": VIDEO_LANGUAGE_STAGE, "supervised_stage": SUPERVISED_STAGE, "augment": AUGMENT,
}


def objective_options(registry: dict[str, type[ObjectiveOptions]]) -> dict[str, Any]:
    """Every registered objective's settings as options (not given: None), under its help panel."""
    return {name: hint for options in registry.values() for name, hint in options_of(options, options.panel).items()}
