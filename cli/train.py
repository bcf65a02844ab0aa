"""`vmae train …`: the training stages."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from trainer.config import build_config
from trainer.data.shards import DataError
from trainer.finetune_config import build_finetune_config
from trainer.init_model import InitError
from trainer.stages.finetune import finetune as run_finetune
from trainer.stages.loop import TrainingError
from trainer.stages.pretrain import pretrain as run_pretrain
from trainer.stages.progressive import ProgressiveError, run_progressive

app = typer.Typer(help="Train video models on corpus shards.", no_args_is_help=True)
DATA = "Data"
INIT = "Initialization"
AUG = "Augmentation and regularization"
FAILURES = (ValueError, DataError, TrainingError, InitError)


@app.command()
def pretrain(
    shards: Annotated[list[str] | None, typer.Option(help="Corpus folder or WebDataset URL pattern; repeat.")] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder: checkpoints, metrics, loss.png (resumes).")] = None,
    model: Annotated[str | None, typer.Option(help="vit_small, vit_base, vit_large, vit_huge, vit_giant, "
                                                    "vit_tiny, vit_test.")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML file of settings; options given here win.")] = None,
    steps: Annotated[int | None, typer.Option(help="Optimizer steps.")] = None,
    epochs: Annotated[float | None, typer.Option(help="Epochs over the corpus (instead of --steps).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Clips per process per micro-step.")] = None,
    accum: Annotated[int | None, typer.Option(help="Gradient accumulation micro-steps.")] = None,
    lr: Annotated[float | None, typer.Option(help="Peak LR (default base LR × total batch / 256).")] = None,
    base_lr: Annotated[float | None, typer.Option(help="Base LR for a total batch of 256.")] = None,
    warmup_fraction: Annotated[float | None, typer.Option(help="Share of steps spent warming up.")] = None,
    precision: Annotated[str | None, typer.Option(help="fp32, bf16 or fp16 (autocast).")] = None,
    grad_checkpointing: Annotated[bool | None, typer.Option(help="Recompute activations to save memory.")] = None,
    compile: Annotated[bool | None, typer.Option(help="torch.compile the model.")] = None,
    ckpt_every: Annotated[int | None, typer.Option(help="Steps between checkpoints.")] = None,
    stop_after: Annotated[int | None, typer.Option(help="End this invocation after N steps (checkpointed); "
                                                        "rerun to go on. For time-limited cluster jobs.")] = None,
    frames: Annotated[int | None, typer.Option(help="Frames per clip.", rich_help_panel=DATA)] = None,
    stride: Annotated[int | None, typer.Option(help="Frame stride.", rich_help_panel=DATA)] = None,
    img_size: Annotated[int | None, typer.Option(help="Crop size after resizing.", rich_help_panel=DATA)] = None,
    num_views: Annotated[int | None, typer.Option(help="Views per decoded clip.", rich_help_panel=DATA)] = None,
    encoder_mask: Annotated[float | None, typer.Option(help="Tube mask ratio.", rich_help_panel=DATA)] = None,
    decoder_mask: Annotated[float | None, typer.Option(help="Running-cell ratio (0 = decode all).",
                                                       rich_help_panel=DATA)] = None,
    workers: Annotated[int | None, typer.Option(help="Loader worker processes.", rich_help_panel=DATA)] = None,
    shuffle_buffer: Annotated[int | None, typer.Option(help="Samples in the shuffle buffer.",
                                                       rich_help_panel=DATA)] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of data order, crops and masks.", rich_help_panel=DATA)] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Stage 1: pretrain a video ViT with dual masking (VideoMAE V2) on corpus shards. Rerun the
    same command to resume from the newest checkpoint in --out."""
    overrides = {"shards": shards, "out": str(out) if out else None, "model": model, "steps": steps,
                 "epochs": epochs, "batch_size": batch_size, "accum": accum, "lr": lr, "base_lr": base_lr,
                 "warmup_fraction": warmup_fraction, "precision": precision,
                 "grad_checkpointing": grad_checkpointing, "compile": compile, "ckpt_every": ckpt_every,
                 "stop_after": stop_after,
                 "data": {"frames": frames, "stride": stride, "img_size": img_size, "num_views": num_views,
                          "encoder_mask": encoder_mask, "decoder_mask": decoder_mask, "workers": workers,
                          "shuffle_buffer": shuffle_buffer, "seed": seed}}
    try:
        cfg = build_config(overrides, config)
        if not cfg.out:
            raise ValueError("give --out (the run folder)")
        result = run_pretrain(cfg, progress=progress)
    except FAILURES as e:
        typer.secho(f"error: {e}", fg="red", err=True)
        raise typer.Exit(2) from e
    typer.echo(f"at step {result['steps']}, last loss {result['final_loss']:.4f}; run folder {result['out']}")


def _supervised(stage: str, doc: str):
    """The command of a supervised stage; postpretrain and finetune share every option."""

    def command(
        shards: Annotated[list[str] | None, typer.Option(help="Labeled corpus folder or URL pattern; repeat.")] = None,
        out: Annotated[Path | None, typer.Option(help="Run folder: checkpoints, best.pt, metrics, loss.png "
                                                      "(resumes).")] = None,
        model: Annotated[str | None, typer.Option(help="vit_small … vit_giant, vit_tiny, vit_test.")] = None,
        config: Annotated[Path | None, typer.Option(help="YAML file of settings; options given here win.")] = None,
        init: Annotated[str | None, typer.Option(help="Checkpoint (or run folder) to start from: ours from stage "
                                                      "1 or 2, or a released VideoMAE V2 file.",
                                                 rich_help_panel=INIT)] = None,
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
        steps: Annotated[int | None, typer.Option(help="Optimizer steps.")] = None,
        epochs: Annotated[float | None, typer.Option(help="Epochs over the corpus (instead of --steps).")] = None,
        batch_size: Annotated[int | None, typer.Option(help="Clips per process per micro-step (even with "
                                                            "mixup).")] = None,
        accum: Annotated[int | None, typer.Option(help="Gradient accumulation micro-steps.")] = None,
        lr: Annotated[float | None, typer.Option(help="Peak LR (default base LR × total batch / 256).")] = None,
        base_lr: Annotated[float | None, typer.Option(help="Base LR for a total batch of 256.")] = None,
        layer_decay: Annotated[float | None, typer.Option(help="Layer-wise LR decay (1: off).")] = None,
        weight_decay: Annotated[float | None, typer.Option(help="AdamW weight decay.")] = None,
        warmup_fraction: Annotated[float | None, typer.Option(help="Share of steps spent warming up.")] = None,
        drop_path: Annotated[float | None, typer.Option(help="Stochastic depth rate.", rich_help_panel=AUG)] = None,
        ema: Annotated[float | None, typer.Option(help="Keep an EMA of the weights with this decay (validated "
                                                       "and kept as best).", rich_help_panel=AUG)] = None,
        rand_augment: Annotated[str | None, typer.Option(help="'n4-m7': RandAugment ops and magnitude; '' none.",
                                                         rich_help_panel=AUG)] = None,
        flip: Annotated[bool | None, typer.Option(help="Random horizontal flips (--no-flip for data where left "
                                                       "and right differ).", rich_help_panel=AUG)] = None,
        erase_prob: Annotated[float | None, typer.Option(help="Random erasing probability.",
                                                         rich_help_panel=AUG)] = None,
        mixup: Annotated[float | None, typer.Option(help="Mixup alpha (0: off).", rich_help_panel=AUG)] = None,
        cutmix: Annotated[float | None, typer.Option(help="Cutmix alpha (0: off).", rich_help_panel=AUG)] = None,
        smoothing: Annotated[float | None, typer.Option(help="Label smoothing.", rich_help_panel=AUG)] = None,
        precision: Annotated[str | None, typer.Option(help="fp32, bf16 or fp16 (autocast).")] = None,
        grad_checkpointing: Annotated[bool | None, typer.Option(help="Recompute activations to save "
                                                                     "memory.")] = None,
        compile: Annotated[bool | None, typer.Option(help="torch.compile the model.")] = None,
        ckpt_every: Annotated[int | None, typer.Option(help="Steps between checkpoints.")] = None,
        stop_after: Annotated[int | None, typer.Option(help="End this invocation after N steps (checkpointed).")
                              ] = None,
        frames: Annotated[int | None, typer.Option(help="Frames per clip.", rich_help_panel=DATA)] = None,
        stride: Annotated[int | None, typer.Option(help="Frame stride.", rich_help_panel=DATA)] = None,
        img_size: Annotated[int | None, typer.Option(help="Crop size.", rich_help_panel=DATA)] = None,
        num_views: Annotated[int | None, typer.Option(help="Repeated augmentation: views per decoded clip.",
                                                      rich_help_panel=DATA)] = None,
        workers: Annotated[int | None, typer.Option(help="Loader worker processes.", rich_help_panel=DATA)] = None,
        shuffle_buffer: Annotated[int | None, typer.Option(help="Samples in the shuffle buffer.",
                                                           rich_help_panel=DATA)] = None,
        seed: Annotated[int | None, typer.Option(help="Seed of data order and augmentation.",
                                                 rich_help_panel=DATA)] = None,
        progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    ) -> None:
        given = dict(locals())
        data_keys = ("frames", "stride", "img_size", "num_views", "workers", "shuffle_buffer", "seed")
        overrides = {k: v for k, v in given.items() if k not in (*data_keys, "config", "progress")}
        overrides.update(stage=stage, out=str(out) if out else None, data={k: given[k] for k in data_keys})
        try:
            cfg = build_finetune_config(overrides, config)
            if not cfg.out:
                raise ValueError("give --out (the run folder)")
            result = run_finetune(cfg, progress=progress)
        except FAILURES as e:
            typer.secho(f"error: {e}", fg="red", err=True)
            raise typer.Exit(2) from e
        best = f"; best validation top-1 {result['best']['top1']:.3f} at step {result['best']['step']}" \
            if result["best"] else ""
        typer.echo(f"at step {result['steps']}, last loss {result['final_loss']:.4f}{best}; run folder {result['out']}")

    command.__doc__ = doc
    return command


app.command("postpretrain")(_supervised("postpretrain", """Stage 2: supervised post-pretraining on the labeled
hybrid (K710), from a stage-1 checkpoint (--init). Rerun the same command to resume."""))
app.command("finetune")(_supervised("finetune", """Stage 3: fine-tune on the target corpus from a stage-1 or
stage-2 checkpoint or a released file (--init); a K710 head is sliced to the target's classes by name or
--label-map. Rerun the same command to resume."""))


@app.command()
def progressive(
    config: Annotated[Path, typer.Option(help="YAML: corpora, model, and the settings of each stage.")],
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Stage 1 → 2 → 3 → eval from one YAML file, each stage started from the previous one's final
    checkpoint. Rerun to resume: a finished stage is not redone."""
    try:
        summary = run_progressive(config, progress=progress)
    except (*FAILURES, ProgressiveError) as e:
        typer.secho(f"error: {e}", fg="red", err=True)
        raise typer.Exit(2) from e
    for name, row in summary["stages"].items():
        typer.echo(f"{name:<13} {row}")
