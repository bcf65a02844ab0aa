"""`vmae bench`: decode, loader and model-step throughput and MFU on this machine, with the
loader workers a device needs (trainer/bench/run.py says how each is measured)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def bench(
    shards: Annotated[list[str] | None, typer.Option(
        help="Corpus folders or shard patterns whose clips the decode and loader parts read (repeatable); "
             "without it only the model step is measured.")] = None,
    model: Annotated[str, typer.Option(help="Registered model size (vit_test … vit_giant).")] = "vit_base",
    objective: Annotated[str, typer.Option(
        help="mae (dual masking), umt (its teacher included), mae+umt (stage 1), supervised (stages 2 and 3), or vl "
             "(the video-language stage: UMA, VTC, VTM, MLM, with a BERT-base text tower, BERT-large from vit_large)."
    )] = "mae",
    precision: Annotated[str, typer.Option(help="bf16, fp16 or fp32 (autocast).")] = "bf16",
    batch_size: Annotated[int, typer.Option(help="Clips per step on one device.")] = 8,
    steps: Annotated[int, typer.Option(help="Measured model steps (after 2 warm-up steps).")] = 5,
    decoder: Annotated[list[str] | None, typer.Option(
        help="Decoder backends to measure (repeatable; the first also runs the loader) [default: torchcodec, "
             "decord].")] = None,
    decode_device: Annotated[str, typer.Option(help="cpu, or cuda for torchcodec's GPU decoder.")] = "cpu",
    frames: Annotated[int | None, typer.Option(
        help="Frames per clip [default: the objective's: umt 8, vl 4, else the model size's 16].")] = None,
    img_size: Annotated[int | None, typer.Option(help="Frame side [default: the model size's, 224].")] = None,
    grad_checkpointing: Annotated[bool, typer.Option(help="Recompute activations in the backward pass.")] = False,
    fsdp: Annotated[bool, typer.Option(
        help="Shard the model over the ranks with FSDP2, as training's --fsdp (under torchrun; without it, DDP).")
    ] = False,
    compile: Annotated[bool, typer.Option(
        "--compile", help="torch.compile the step, as training's --compile (compiled during the warm-up).")] = False,
    profile: Annotated[Path | None, typer.Option(
        help="A folder for a torch.profiler trace of 2 more steps (trace.json, for Perfetto or chrome://tracing); "
             "the table then lists the ops that took the most time.")] = None,
    max_workers: Annotated[int | None, typer.Option(help="Most loader workers tried [default: the CPU count].")] = None,
    teacher: Annotated[str, typer.Option(help="umt's and vl's image teacher (timm name; random weights cost the same).")
                       ] = "vit_base_patch16_clip_224",
    align_layers: Annotated[int, typer.Option(help="umt: last K blocks aligned.")] = 6,
    rounds: Annotated[int, typer.Option(
        help="Rounds of each decode backend and loader worker count, in turns (medians and spread).")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Measure, on the hardware at hand: decode clips/s per worker for each backend, loader clips/s
    at 1, 2, 4 … workers, the model's training-step clips/s, peak memory and MFU, and how many
    loader workers each device needs. Under torchrun (torchrun --nproc-per-node N --no-python vmae bench ...)
    the ranks step together as in training, with DDP or --fsdp."""
    from cli.common import fail
    from corpus.errors import InputError
    from trainer.bench.run import bench as run_bench
    from trainer.bench.setup import OBJECTIVES, PRECISIONS, BenchOptions
    from trainer.errors import CheckpointError, ConfigError, DataError

    if objective not in OBJECTIVES:
        raise fail(InputError(f"--objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}"))
    if precision not in PRECISIONS:
        raise fail(InputError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}"))
    opts = BenchOptions(shards=tuple(shards or ()), model=model, objective=objective, precision=precision,
                        batch_size=batch_size, steps=steps, decoders=tuple(decoder or ("torchcodec", "decord")),
                        decode_device=decode_device, frames=frames, img_size=img_size,
                        grad_checkpointing=grad_checkpointing, fsdp=fsdp, compile=compile,
                        profile=str(profile) if profile else None, max_workers=max_workers, teacher=teacher,
                        align_layers=align_layers, rounds=rounds)
    try:
        measured = run_bench(opts, progress=(lambda _: None) if as_json else (lambda s: typer.echo(s, err=True)))
    except (InputError, ConfigError, DataError, CheckpointError, ValueError) as e:
        raise fail(e) from e
    if measured is None:  # another rank than 0 of a torchrun: rank 0 reports
        return
    if as_json:
        typer.echo(json.dumps(measured.to_json() | {"options": opts.__dict__}, indent=2, default=list))
        return
    typer.echo(table(measured, opts))


def table(m, opts) -> str:
    lines = [f"vmae bench: {opts.model} {opts.objective} {opts.precision}, batch {opts.batch_size}, on {m.device_name} "
             f"({m.devices} device(s), {m.cores} CPU cores; {m.parallel})", "", "| part | figure |", "|---|---|"]
    for backend, rate in m.decode.items():
        lines.append(f"| decode, one worker, {backend} ({opts.decode_device}) | {rate:.1f} clips/s"
                     f"{_spread(m, f'decode {backend}')} |")
    for workers, rate in m.loader.items():
        lines.append(f"| loader, {workers} worker(s) | {rate:.1f} clips/s{_spread(m, f'loader {workers}')} |")
    lines += [f"| model step (data on the device) | {m.step_clips_s:.2f} clips/s per device"
              f"{_spread(m, 'model step')} |",
              f"| peak memory | {m.step_peak_gb:.2f} GB |",
              f"| model FLOPs per clip (3 x trained forward + frozen forward) | {m.gflops_per_clip:.1f} GFLOP |",
              f"| peak of the device | {m.peak_tflops:.2f} TFLOP/s ({m.peak_source}) |",
              f"| MFU | {m.mfu:.1%} |"]
    if m.workers_needed is not None:
        lines.append(f"| loader workers needed per device | {m.workers_needed} |")
        lines.append(f"| enough cores for {m.devices} device(s) | {'yes' if m.cores_suffice else 'no'} "
                     f"({m.workers_needed * m.devices} workers, {m.cores} cores) |")
    if m.top_ops:
        lines += ["", f"Where a step's time goes (torch.profiler, each op's own time on the {m.device}; the trace is "
                  f"{Path(opts.profile) / 'trace.json'}):", "", "| op | ms per step | share |", "|---|---|---|"]
        lines += [f"| {op['op']} | {op['ms_per_step']:.1f} | {op['share']:.0%} |" for op in m.top_ops]
    return "\n".join(lines + [f"\n{note}" for note in m.notes])


def _spread(m, part: str) -> str:
    from trainer.bench.turns import spread_text

    return f" ({spread_text(m.spread[part])})" if part in m.spread else ""
