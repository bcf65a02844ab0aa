"""`vmae train …`: the training stages. Every option is a config field of the same name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from cli.common import (
    AUG,
    INIT,
    UMT,
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
    Progress,
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
    fail,
    machine_faults,
)

app = typer.Typer(help="Train video models on corpus shards.", no_args_is_help=True)


def _train(cls_name: str, options: dict, run: Callable[..., dict]) -> dict:
    """Build the config from the command's options (named as its fields) and run the stage."""
    from trainer.config import FinetuneConfig, PretrainConfig, build_config
    from trainer.errors import USER_ERRORS

    config, progress = options.pop("config"), options.pop("progress")
    options = {k: str(v) if isinstance(v, Path) else v for k, v in options.items()}
    try:
        cfg = build_config({"pretrain": PretrainConfig, "finetune": FinetuneConfig}[cls_name], options, config)
        if not cfg.out:
            raise ValueError("give --out (the run folder)")
        with machine_faults("training", cfg.out):
            return run(cfg, progress=progress)
    except USER_ERRORS as e:
        raise fail(e) from e


@app.command()
def pretrain(
    shards: Shards = None, out: Out = None, model: ModelSize = None, config: ConfigFile = None, init: Init = None,
    objective: Annotated[str | None, typer.Option(help="mae (dual masking), umt (Unmasked Teacher) or mae+umt "
                                                       "(both losses, one encoder pass).")] = None,
    objective_weights: Annotated[list[str] | None, typer.Option(
        "--objective-weight", help="NAME=WEIGHT of a part of the objective, e.g. mae=0.5; repeat.")] = None,
    mask_type: Annotated[str | None, typer.Option(help="Encoder mask: tube (MAE default), random, or semantic "
                                                       "(UMT default: sampled by the teacher's attention).")] = None,
    encoder_mask: Annotated[float | None, typer.Option(help="Share of tokens hidden from the encoder (MAE 0.9, "
                                                            "UMT 0.8).")] = None,
    decoder_mask: Annotated[float | None, typer.Option(help="Running-cell ratio (0 = decode all).")] = None,
    teacher: Annotated[str | None, typer.Option(help="timm architecture of the image teacher, e.g. "
                                                     "vit_base_patch16_clip_224.", rich_help_panel=UMT)] = None,
    teacher_weights: Annotated[str | None, typer.Option(help="The teacher's weights: a local timm, OpenCLIP or OpenAI "
                                                             "CLIP state dict (.pt/.pth/.bin/.safetensors); 'random' "
                                                             "for a trial run.", rich_help_panel=UMT)] = None,
    teacher_img_size: Annotated[int | None, typer.Option(help="The teacher's input size (default: the student's "
                                                              "token grid × its patch).", rich_help_panel=UMT)] = None,
    align_layers: Annotated[int | None, typer.Option(help="Last K blocks of student and teacher aligned.",
                                                     rich_help_panel=UMT)] = None,
    teacher_precision: Annotated[str | None, typer.Option(help="auto, bf16 or fp32.", rich_help_panel=UMT)] = None,
    steps: Steps = None, epochs: Epochs = None, batch_size: BatchSize = None, accum: Accum = None, lr: Lr = None,
    base_lr: BaseLr = None, warmup_fraction: WarmupFraction = None, weight_decay: WeightDecay = None,
    drop_path: DropPath = None, precision: Precision = None, grad_checkpointing: GradCheckpointing = None,
    compile: Compile = None, fsdp: Fsdp = None, nan: Nan = None, ckpt_every: CkptEvery = None,
    stop_after: StopAfter = None, frames: Frames = None, stride: Stride = None, sampling: Sampling = None,
    img_size: ImgSize = None,
    tubelet: Tubelet = None, num_views: NumViews = None, workers: Workers = None, decoder: Decoder = None,
    decode_device: DecodeDevice = None, shuffle_buffer: ShuffleBuffer = None, seed: Seed = None,
    progress: Progress = True,
) -> None:
    """Stage 1: pretrain a video ViT on corpus shards, with dual masking (VideoMAE V2, the default)
    or aligned to an image teacher (UMT); from scratch, or on from a pretraining checkpoint
    (--init). Rerun the same command to resume from the newest checkpoint in --out."""
    options = dict(locals())
    from trainer.stages.pretrain import pretrain as run

    result = _train("pretrain", options, run)
    typer.echo(f"at step {result['steps']}, last loss {result['final_loss']:.4f}; run folder {result['out']}")


def _supervised(stage: str, doc: str):
    """The command of a supervised stage; postpretrain and finetune share every option."""

    def command(
        shards: Shards = None, out: Out = None, model: ModelSize = None, config: ConfigFile = None,
        init: Init = None,
        label_map: Annotated[str | None, typer.Option(help="Head rows for the target's classes: a JSON list "
                                                           "(label_710to400.json) or a corpus' label_maps/k400.json.",
                                                      rich_help_panel=INIT)] = None,
        label_map_from: Annotated[str | None, typer.Option(help="Class names of the --init head, one per line.",
                                                           rich_help_panel=INIT)] = None,
        label_map_to: Annotated[str | None, typer.Option(help="Class names of the target, one per line.",
                                                         rich_help_panel=INIT)] = None,
        new_head: Annotated[bool | None, typer.Option(help="Start a new head when the --init head does not fit.",
                                                      rich_help_panel=INIT)] = None,
        teacher: Annotated[str | None, typer.Option(help="Classification checkpoint to distill from.",
                                                    rich_help_panel=INIT)] = None,
        distill_weight: Annotated[float | None, typer.Option(help="Weight of the distillation loss.",
                                                             rich_help_panel=INIT)] = None,
        distill_temperature: Annotated[float | None, typer.Option(help="Softmax temperature of distillation.",
                                                                  rich_help_panel=INIT)] = None,
        val_shards: Annotated[list[str] | None, typer.Option(help="Validation corpus (single view); repeat.")] = None,
        val_every: Annotated[int | None, typer.Option(help="Steps between validations (0: at the end).")] = None,
        steps: Steps = None, epochs: Epochs = None,
        batch_size: Annotated[int | None, typer.Option(help="Clips per process per micro-step (even with mixup).")
                              ] = None,
        accum: Accum = None, lr: Lr = None, base_lr: BaseLr = None,
        layer_decay: Annotated[float | None, typer.Option(help="Layer-wise LR decay (1: off).")] = None,
        weight_decay: WeightDecay = None, warmup_fraction: WarmupFraction = None, drop_path: DropPath = None,
        ema: Annotated[float | None, typer.Option(help="Keep an EMA of the weights with this decay (validated and kept "
                                                       "as best).", rich_help_panel=AUG)] = None,
        rand_augment: Annotated[str | None, typer.Option(help="'n4-m7': RandAugment ops and magnitude; '' none.",
                                                         rich_help_panel=AUG)] = None,
        flip: Annotated[bool | None, typer.Option(help="Random horizontal flips (--no-flip for data where left and "
                                                       "right differ).", rich_help_panel=AUG)] = None,
        erase_prob: Annotated[float | None, typer.Option(help="Random erasing probability.", rich_help_panel=AUG)
                              ] = None,
        mixup: Annotated[float | None, typer.Option(help="Mixup alpha (0: off).", rich_help_panel=AUG)] = None,
        cutmix: Annotated[float | None, typer.Option(help="Cutmix alpha (0: off).", rich_help_panel=AUG)] = None,
        smoothing: Annotated[float | None, typer.Option(help="Label smoothing.", rich_help_panel=AUG)] = None,
        precision: Precision = None, grad_checkpointing: GradCheckpointing = None, compile: Compile = None,
        fsdp: Fsdp = None, nan: Nan = None, ckpt_every: CkptEvery = None, stop_after: StopAfter = None,
        frames: Frames = None, stride: Stride = None, sampling: Sampling = None, img_size: ImgSize = None,
        tubelet: Tubelet = None, num_views: NumViews = None, workers: Workers = None, decoder: Decoder = None,
        decode_device: DecodeDevice = None, shuffle_buffer: ShuffleBuffer = None, seed: Seed = None,
        progress: Progress = True,
    ) -> None:
        options = {**locals(), "stage": stage}
        from trainer.stages.finetune import finetune as run

        result = _train("finetune", options, run)
        best = f"; best validation top-1 {result['best']['top1']:.3f} at step {result['best']['step']}" \
            if result["best"] else ""
        typer.echo(f"at step {result['steps']}, last loss {result['final_loss']:.4f}{best}; run folder {result['out']}")

    command.__doc__ = doc
    return command


app.command("postpretrain")(_supervised("postpretrain", """Stage 2: supervised post-pretraining on the labeled
hybrid (K710), from a stage-1 checkpoint (--init), MAE or UMT. Rerun the same command to resume."""))
app.command("finetune")(_supervised("finetune", """Stage 3: fine-tune on the target corpus from a stage-1 or
stage-2 checkpoint or a released file (--init); a K710 head is sliced to the target's classes by name or
--label-map. Rerun the same command to resume."""))


@app.command()
def progressive(
    config: Annotated[Path, typer.Option(help="YAML: corpora, model, and the settings of each stage.")],
    progress: Progress = True,
) -> None:
    """Stage 1 → 2 → 3 → eval from one YAML file, each stage started from the previous one's final
    checkpoint. Rerun to resume: a finished stage is not redone."""
    from trainer.errors import USER_ERRORS
    from trainer.stages.progressive import ProgressiveError, run_progressive

    try:
        with machine_faults("training", None):
            summary = run_progressive(config, progress=progress)
    except (*USER_ERRORS, ProgressiveError) as e:
        raise fail(e) from e
    for name, row in summary["stages"].items():
        typer.echo(f"{name:<13} {row}")
