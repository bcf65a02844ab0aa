"""`vmae train …`: a command per registered stage (trainer/stages/specs.py), made of the option
groups its spec names. Every option is a config field of the same name, declared once in
train_options.py or in an objective's options class."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from cli.common import Progress, fail, machine_faults
from cli.options import command
from cli.train_options import GROUPS, objective_options
from trainer.stages.specs import STAGES, StageSpec

app = typer.Typer(help="Train video models on corpus shards.", no_args_is_help=True)


def _train(spec: StageSpec, options: dict) -> dict:
    """Build the stage's config from the command's options (named as its fields) and run it."""
    from trainer.errors import USER_ERRORS, ConfigError
    from trainer.settings import configure

    config, progress = options.pop("config"), options.pop("progress")
    options = {k: str(v) if isinstance(v, Path) else v for k, v in options.items()} | spec.fixed
    try:
        cfg = configure(spec.config, options, config)
        if not cfg.out:
            raise ConfigError("give --out (the run folder)")
        with machine_faults("training", cfg.out):
            return spec.runner()(cfg, progress=progress)
    except USER_ERRORS as e:
        raise fail(e) from e


def _stage_command(spec: StageSpec) -> Callable[[dict], None]:
    def run_stage(options: dict) -> None:
        result = _train(spec, options)
        best = result.get("best") if spec.best else None
        told = f"; best {spec.best[1]} {best[spec.best[0]]:.3f} at step {best['step']}" if best else ""
        typer.echo(f"at step {result['steps']}, last loss {result['final_loss']:.4f}{told}; run folder {result['out']}")

    return run_stage


def _groups(spec: StageSpec) -> list[dict]:
    return [objective_options(spec.objectives) if g == "objectives" else GROUPS[g] for g in spec.groups]


for _spec in STAGES.values():
    app.command(_spec.name)(command(_stage_command(_spec), " ".join(_spec.summary.split()), *_groups(_spec)))


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
