"""`vmae train …`: the training stages. Every option is a config field of the same name, declared
once in train_options.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from cli.common import Progress, fail, machine_faults
from cli.options import command
from cli.train_options import (
    AUGMENT,
    DATA,
    MASKS,
    PRETRAINING,
    SHARED,
    SUPERVISED_STAGE,
    VALIDATION,
    VIDEO_LANGUAGE_STAGE,
    objective_options,
)
from trainer.objectives.options import PRETRAIN, SUPERVISED, VIDEO_LANGUAGE

app = typer.Typer(help="Train video models on corpus shards.", no_args_is_help=True)


def _train(cls_name: str, options: dict, run: Callable[..., dict]) -> dict:
    """Build the config from the command's options (named as its fields) and run the stage."""
    from trainer.config import FinetuneConfig, PretrainConfig, VLConfig
    from trainer.errors import USER_ERRORS, ConfigError
    from trainer.settings import configure

    config, progress = options.pop("config"), options.pop("progress")
    options = {k: str(v) if isinstance(v, Path) else v for k, v in options.items()}
    classes = {"pretrain": PretrainConfig, "finetune": FinetuneConfig, "vlpretrain": VLConfig}
    try:
        cfg = configure(classes[cls_name], options, config)
        if not cfg.out:
            raise ConfigError("give --out (the run folder)")
        with machine_faults("training", cfg.out):
            return run(cfg, progress=progress)
    except USER_ERRORS as e:
        raise fail(e) from e


def _pretrain(options: dict) -> None:
    from trainer.stages.pretrain import pretrain as run

    result = _train("pretrain", options, run)
    typer.echo(f"at step {result['steps']}, last loss {result['final_loss']:.4f}; run folder {result['out']}")


app.command("pretrain")(command(_pretrain, """Stage 1: pretrain a video ViT on corpus shards, with dual
masking (VideoMAE V2, the default) or aligned to an image teacher (UMT); from scratch, or on from a
pretraining checkpoint (--init). Rerun the same command to resume from the newest checkpoint in --out.""",
                                SHARED, PRETRAINING, MASKS, objective_options(PRETRAIN), DATA))


def _supervised(stage: str) -> Callable[[dict], None]:
    """What a supervised stage runs; postpretrain and finetune share every option."""

    def run_stage(options: dict) -> None:
        from trainer.stages.finetune import finetune as run

        result = _train("finetune", {**options, "stage": stage}, run)
        best = f"; best validation top-1 {result['best']['top1']:.3f} at step {result['best']['step']}" \
            if result["best"] else ""
        typer.echo(f"at step {result['steps']}, last loss {result['final_loss']:.4f}{best}; run folder {result['out']}")

    return run_stage


SUPERVISED_OPTIONS = (SHARED, SUPERVISED_STAGE, AUGMENT, VALIDATION, objective_options(SUPERVISED), DATA)
app.command("postpretrain")(command(_supervised("postpretrain"), """Stage 2: supervised post-pretraining on the
labeled hybrid (K710), from a stage-1 checkpoint (--init), MAE or UMT. Rerun the same command to resume.""",
                                    *SUPERVISED_OPTIONS))
app.command("finetune")(command(_supervised("finetune"), """Stage 3: fine-tune on the target corpus from a stage-1
or stage-2 checkpoint or a released file (--init); a K710 head is sliced to the target's classes by name or
--label-map. Rerun the same command to resume.""", *SUPERVISED_OPTIONS))


def _vlpretrain(options: dict) -> None:
    from trainer.stages.vlpretrain import vlpretrain as run

    result = _train("vlpretrain", options, run)
    best = f"; best validation retrieval mean {result['best']['mean']:.1f} at step {result['best']['step']}" \
        if result["best"] else ""
    typer.echo(f"at step {result['steps']}, last loss {result['final_loss']:.4f}{best}; run folder {result['out']}")


app.command("vlpretrain")(command(_vlpretrain, """UMT stage 2: video-language pretraining from a stage-1
student (--init, UMT or MAE) and a local BERT folder (--text-weights) on captioned video and image corpora:
UMA, VTC, VTM and MLM. With --retrieval, retrieval fine-tuning (VTC and VTM). Rerun the same command to
resume.""", SHARED, VIDEO_LANGUAGE_STAGE, AUGMENT, VALIDATION, MASKS, objective_options(VIDEO_LANGUAGE), DATA))


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
