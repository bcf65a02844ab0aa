"""`vmae train …`: the training stages."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from trainer.config import build_config
from trainer.loop import TrainingError
from trainer.pretrain import pretrain as run_pretrain
from trainer.shards import DataError

app = typer.Typer(help="Train video models on corpus shards.", no_args_is_help=True)
DATA = "Data"


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
    except (ValueError, DataError, TrainingError) as e:
        typer.secho(f"error: {e}", fg="red", err=True)
        raise typer.Exit(2) from e
    typer.echo(f"at step {result['steps']}, last loss {result['final_loss']:.4f}; run folder {result['out']}")
