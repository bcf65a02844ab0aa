"""`vmae bench`: decode, loader and model-step throughput and MFU on this machine, with the
loader workers a device needs (trainer/bench/run.py says how each is measured). Its command is
its own options and the train commands' groups (model, masks, data, every objective's settings),
so a run's settings are measured as given."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.options import command
from cli.train_options import DATA, MASKS, SHARED, objective_options
from trainer.objectives.options import PRETRAIN, SUPERVISED, VIDEO_LANGUAGE

BENCH: dict[str, Any] = {  # what the bench itself measures and how
    "shards": Annotated[list[str] | None, typer.Option(
        help="Corpus folders or shard patterns whose clips the decode and loader parts read (repeatable); "
             "without it only the model step is measured.")],
    "objective": Annotated[str | None, typer.Option(
        help="mae (dual masking, the default), umt (its teacher included), mae+umt (stage 1), supervised (stages 2 "
             "and 3), or vl (the video-language stage: UMA, VTC, VTM, MLM, with a BERT-base text tower, BERT-large "
             "from vit_large); the stage that trains it is the one measured.")],
    "steps": Annotated[int | None, typer.Option(help="Measured model steps, after 2 warm-up steps (default: 5).")],
    "decoder": Annotated[list[str] | None, typer.Option(
        help="Decoder backends to measure (repeatable; the first also runs the loader) (default: torchcodec, "
             "decord).")],
    "profile": Annotated[Path | None, typer.Option(
        help="A folder for a torch.profiler trace of 2 more steps (trace.json, for Perfetto or chrome://tracing); "
             "the table then lists the ops that took the most time.")],
    "max_workers": Annotated[int | None, typer.Option(help="Most loader workers tried (default: the CPU count).")],
    "plan_for": Annotated[str | None, typer.Option(
        help="A GPU (h100, h200, a100, l40s, …) or its dense peak in TFLOP/s: how many loader cores it needs to train "
             "at --mfu, from the loader's rate per core measured here (needs --shards).")],
    "mfu": Annotated[float | None, typer.Option(help="The MFU --plan-for aims at (default: 0.45).")],
    "rounds": Annotated[int | None, typer.Option(
        help="Rounds of each decode backend and loader worker count, in turns (medians and spread; default: 3).")],
    "as_json": Annotated[bool | None, typer.Option("--json", help="Print the figures as JSON.")],
}
# the train commands' own options, each as a run takes it (the bench's defaults: bf16, batch 8)
TRAIN = {name: SHARED[name] for name in ("model", "config", "precision", "batch_size", "grad_checkpointing",
                                          "compile", "fsdp")}
MEASURED_AS_A_RUN = ("model", "precision", "batch_size", "grad_checkpointing", "compile", "fsdp")
LOADING = {name: hint for name, hint in DATA.items() if name not in ("decoder", "workers", "shuffle_buffer", "seed")}
OBJECTIVES = {name: hint for registry in (PRETRAIN, SUPERVISED, VIDEO_LANGUAGE)
              for name, hint in objective_options(registry).items()}


def _bench(options: dict) -> None:
    from cli.common import fail
    from corpus.errors import InputError
    from trainer.bench.run import bench as run_bench
    from trainer.bench.setup import OBJECTIVES as MEASURED
    from trainer.bench.setup import PRECISIONS, BenchOptions
    from trainer.errors import USER_ERRORS
    from trainer.measure.plan import gpu_peak

    options.pop("progress")
    own = {name: options.pop(name) for name in BENCH}
    as_run = {name: options.pop(name) for name in MEASURED_AS_A_RUN if options.get(name) is not None}
    config = options.pop("config")
    objective = own["objective"] or "mae"
    if objective not in MEASURED:
        raise fail(InputError(f"--objective must be one of {', '.join(MEASURED)}, got {objective!r}"))
    if as_run.get("precision", "bf16") not in PRECISIONS:
        raise fail(InputError(f"--precision must be one of {', '.join(PRECISIONS)}, got {as_run['precision']!r}"))
    defaults = BenchOptions()
    opts = BenchOptions(
        **as_run, shards=tuple(own["shards"] or ()), objective=objective, steps=own["steps"] or defaults.steps,
        decoders=tuple(own["decoder"] or defaults.decoders), profile=str(own["profile"]) if own["profile"] else None,
        max_workers=own["max_workers"], rounds=own["rounds"] or defaults.rounds, plan_for=own["plan_for"],
        mfu=own["mfu"] if own["mfu"] is not None else defaults.mfu,
        decode_device=options.get("decode_device") or defaults.decode_device,
        settings={k: v for k, v in options.items() if v is not None}, config=str(config) if config else None)
    as_json = bool(own["as_json"])
    try:
        if opts.plan_for:  # a GPU it does not know is refused before anything is measured
            gpu_peak(opts.plan_for, opts.precision)
        measured = run_bench(opts, progress=(lambda _: None) if as_json else (lambda s: typer.echo(s, err=True)))
    except (InputError, *USER_ERRORS, ValueError) as e:
        raise fail(e) from e
    if measured is None:  # another rank than 0 of a torchrun: rank 0 reports
        return
    if as_json:
        typer.echo(json.dumps(measured.to_json() | {"options": opts.__dict__}, indent=2, default=list))
        return
    typer.echo(table(measured, opts))


bench = command(_bench, """Measure, on the hardware at hand: decode clips/s per worker for each backend, loader
clips/s at 1, 2, 4 … workers, the model's training-step clips/s, peak memory and MFU, and how many loader workers
each device needs. It measures the stage that trains --objective with the train commands' own options (masks,
frames, the objective's settings), as a run with them would train. Under torchrun (torchrun --nproc-per-node N
--no-python vmae bench ...) the ranks step together as in training, with DDP or --fsdp.""",
                BENCH, TRAIN, LOADING, MASKS, OBJECTIVES)


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
    if m.feed:
        lines.append(f"| what the loader read and did | {m.feed} |")
    if m.plan:
        p = m.plan
        lines.append(f"| plan: {p['gpu']} ({p['peak_tflops']:g} TFLOP/s) at MFU {p['mfu']:.0%} | consumes "
                     f"{p['consumed_clips_s']:,.0f} clips/s; one loader core here gives {p['clips_per_core']:.1f}: "
                     f"**{p['cores']} cores per GPU** |")
    if m.top_ops:
        lines += ["", f"Where a step's time goes (torch.profiler, each op's own time on the {m.device}; the trace is "
                  f"{Path(opts.profile) / 'trace.json'}):", "", "| op | ms per step | share |", "|---|---|---|"]
        lines += [f"| {op['op']} | {op['ms_per_step']:.1f} | {op['share']:.0%} |" for op in m.top_ops]
    return "\n".join(lines + [f"\n{note}" for note in m.notes])


def _spread(m, part: str) -> str:
    from trainer.bench.turns import spread_text

    return f" ({spread_text(m.spread[part])})" if part in m.spread else ""
