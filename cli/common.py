"""Options shared by several commands, as Annotated aliases, and small parsers. The training
options are named as the config's fields (trainer/config.py), so a command hands them over as
they are."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from trainer.models.sizes import SIZES

CorpusDir = Annotated[Path, typer.Argument(help="A corpus folder (made by 'vmae corpus build').")]


DATA = "Data"
INIT = "Initialization"
AUG = "Augmentation and regularization"

Init = Annotated[str | None, typer.Option(help="Weights to start from: a checkpoint (or run folder) of ours, a "
                                                "'vmae export' file, a transformers folder (config.json + weights), "
                                                "or a released VideoMAE V2 / UMT file.", rich_help_panel=INIT)]
Shards = Annotated[list[str] | None, typer.Option(help="Corpus folder or WebDataset URL pattern; repeat.")]
Out = Annotated[Path | None, typer.Option(help="Run folder: checkpoints, metrics, loss.png (rerun to resume).")]
ModelSize = Annotated[str | None, typer.Option(help=f"Registered size: {', '.join(SIZES)}.")]
ConfigFile = Annotated[Path | None, typer.Option(help="YAML file of settings; options given here win.")]
Progress = Annotated[bool, typer.Option(help="Show a progress bar.")]
Steps = Annotated[int | None, typer.Option(help="Optimizer steps.")]
Epochs = Annotated[float | None, typer.Option(help="Epochs over the corpus (instead of --steps).")]
BatchSize = Annotated[int | None, typer.Option(help="Clips per process per micro-step.")]
Accum = Annotated[int | None, typer.Option(help="Gradient accumulation micro-steps.")]
Lr = Annotated[float | None, typer.Option(help="Peak LR (default base LR × total batch / 256).")]
BaseLr = Annotated[float | None, typer.Option(help="Base LR for a total batch of 256.")]
WarmupFraction = Annotated[float | None, typer.Option(help="Share of steps spent warming up.")]
WeightDecay = Annotated[float | None, typer.Option(help="AdamW weight decay.")]
DropPath = Annotated[float | None, typer.Option(help="Stochastic depth rate.", rich_help_panel=AUG)]
Precision = Annotated[str | None, typer.Option(help="fp32, bf16 or fp16 (autocast).")]
GradCheckpointing = Annotated[bool | None, typer.Option(help="Recompute activations to save memory.")]
Compile = Annotated[bool | None, typer.Option(help="torch.compile the model.")]
Fsdp = Annotated[bool | None, typer.Option(help="Shard weights, gradients and optimizer state over the ranks (FSDP2; "
                                                "sharded checkpoints that resume on any number of ranks).")]
Nan = Annotated[str | None, typer.Option(help="A step whose loss or gradients are not finite: stop (with a message, "
                                              "default) or skip (no update; lower fp16 loss scale).")]
CkptEvery = Annotated[int | None, typer.Option(help="Steps between checkpoints.")]
StopAfter = Annotated[int | None, typer.Option(help="End this invocation after N steps (checkpointed); rerun to go "
                                                    "on. For time-limited cluster jobs.")]
Frames = Annotated[int | None, typer.Option(help="Frames per clip.", rich_help_panel=DATA)]
Stride = Annotated[int | None, typer.Option(help="Frames apart (dense sampling).", rich_help_panel=DATA)]
Sampling = Annotated[str | None, typer.Option(help="dense (frames --stride apart) or segments (one frame from each "
                                                   "of --frames equal parts; UMT).", rich_help_panel=DATA)]
ImgSize = Annotated[int | None, typer.Option(help="Crop size after resizing.", rich_help_panel=DATA)]
Tubelet = Annotated[int | None, typer.Option(help="Frames per token (2 for VideoMAE, 1 for UMT).",
                                             rich_help_panel=DATA)]
NumViews = Annotated[int | None, typer.Option(help="Views per decoded clip (repeated sampling).", rich_help_panel=DATA)]
Workers = Annotated[int | None, typer.Option(help="Loader worker processes.", rich_help_panel=DATA)]
Decoder = Annotated[str | None, typer.Option(help="Video decoder: torchcodec (default) or decord.",
                                             rich_help_panel=DATA)]
DecodeDevice = Annotated[str | None, typer.Option(help="cpu, or cuda (torchcodec on a GPU; decodes on the CPU with a "
                                                       "counted warning where none is visible).", rich_help_panel=DATA)]
ResizeOn = Annotated[str | None, typer.Option(help="Where pretraining views are resized: loader (its workers), device "
                                                  "(the training process: the workers only decode and crop), or "
                                                  "auto (default: the device on a GPU).", rich_help_panel=DATA)]
ShuffleBuffer = Annotated[int | None, typer.Option(help="Samples in the shuffle buffer.", rich_help_panel=DATA)]
Seed = Annotated[int | None, typer.Option(help="Seed of data order, crops, masks and augmentation.",
                                          rich_help_panel=DATA)]

@contextlib.contextmanager
def machine_faults(command: str, out: Path | str | None) -> Iterator[None]:
    """A fault of the machine while `command` writes (a full disk or quota, a read-only or vanished
    folder, too many open files) is not a fault of its input: one message saying what, where and
    how much room there is, and exit status 3. Every write is atomic, so nothing was left
    half-written and the same command resumes or redoes the work once the machine is fixed."""
    from corpus.errors import MachineFault, machine_fault

    try:
        yield
    except (OSError, MachineFault) as e:
        fault = machine_fault(e)
        if fault is None:
            raise
        typer.secho(f"error: {command} stopped: {fault}. {_room(fault.where or out)}. Fix that (free space, remount, "
                    "raise the open-file limit) and rerun the same command; nothing was left half-written",
                    fg="red", err=True)
        raise typer.Exit(3) from e


def _room(where: Path | str | None) -> str:
    """How much space is free where the command writes (on the nearest folder that exists)."""
    folder = Path(where or ".").absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return f"{shutil.disk_usage(folder).free / 1e6:,.1f} MB free on the file system of {folder}"
    except OSError:
        return f"{folder} cannot be read"


# C0 and C1 controls and DEL (escape sequences retitle a terminal, write its clipboard through
# OSC 52, make lying links through OSC 8) and the bidirectional overrides that reorder what is shown
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def shown(text: object) -> str:
    """Text from a table, a list or an error as a terminal may show it: every control character
    written as its escape (\\x1b), so that a value can neither drive the terminal nor forge lines."""
    return _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256
                         else f"\\u{ord(m.group()):04x}", str(text))


def say(text: object, err: bool = False) -> None:
    """typer.echo of `shown(text)`: what every command prints that came from an input."""
    typer.echo(shown(text), err=err)


def fail(e: Exception) -> typer.Exit:
    """Print a user error without a traceback (with it under VMAE_DEBUG=1); exit status 2."""
    if os.environ.get("VMAE_DEBUG") == "1":
        traceback.print_exception(e)
    typer.secho(f"error: {shown(e)}", fg="red", err=True)
    return typer.Exit(2)
