"""`vmae bench`: how fast this machine decodes, loads and trains, before a long run is rented.

Each part runs a short warm-up and then a measured window, and is reported as the median with the
spread of its rounds (trainer/bench/turns.py), so that a busy moment of a shared machine shows
instead of deciding a figure:
- decode (trainer/bench/data.py): clips/s of one worker (one process, one decoder thread) per
  backend, on the corpus' own clips read from its tars into memory (what a loader worker does,
  without the rest); the backends in turns, `rounds` times;
- loader: samples/s of the stage's whole training loader at 1, 2, 4, ... worker processes, up to
  the CPU count; the worker counts in turns, `rounds` times;
- model (trainer/bench/model.py): clips/s of each training step on data already on the device,
  so the model alone is timed (the median of the steps); its peak memory; and MFU, the model
  FLOPs of trainer/measure/flops.py per second over the device's peak (trainer/measure/peaks.py);
  with --profile, a torch.profiler trace of two more steps and the ops that took the most time.
The verdict: loader workers one device needs to stay fed (its step rate over one worker's rate),
and whether this machine's cores can run that many for every device it has.

Under torchrun the ranks step together (DDP, or FSDP2 with --fsdp); rank 0 alone measures the
data parts and reports.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, replace

import torch
import torch.distributed as dist

from trainer import distributed
from trainer.bench.data import decode_rate, loader_rate, read_clips, stage_loader
from trainer.bench.model import step_rate
from trainer.bench.setup import BenchOptions
from trainer.bench.turns import in_turns
from trainer.data.sampling import clip_stride
from trainer.data.shards import resolve_shards
from trainer.measure.peaks import peak_for, precision_warning
from trainer.measure.plan import FeedPlan, gpu_peak


@dataclass
class Measured:
    device: str
    device_name: str
    devices: int
    cores: int
    decode: dict[str, float] = field(default_factory=dict)  # backend -> clips/s per worker (median of rounds)
    loader: dict[int, float] = field(default_factory=dict)  # workers -> samples/s (median of rounds)
    step_clips_s: float = 0.0
    step_peak_gb: float = 0.0
    gflops_per_clip: float = 0.0
    peak_tflops: float = 0.0
    peak_source: str = ""
    mfu: float = 0.0
    workers_needed: int | None = None
    cores_suffice: bool | None = None
    notes: list[str] = field(default_factory=list)
    spread: dict[str, float] = field(default_factory=dict)  # part -> (slowest - fastest) / median of its rounds
    parallel: str = "one process"  # or DDP / FSDP over N ranks
    top_ops: list[dict] = field(default_factory=list)  # --profile: op, ms_per_step, share
    plan: dict | None = None  # --plan-for: the cores a GPU of that peak needs at --mfu, from this loader
    feed: str = ""  # what the loader measured reads and does: views per decode, storage, resize, decoder

    def to_json(self) -> dict:
        return asdict(self)


def bench(opts: BenchOptions, progress=print) -> Measured | None:
    """The figures, on rank 0 (None on the other ranks of a torchrun)."""
    env = distributed.setup()
    cuda = env.device.type == "cuda"
    devices = env.world if env.world > 1 else (torch.cuda.device_count() if cuda else 1)
    out = Measured(env.device.type, torch.cuda.get_device_name(env.device) if cuda else "CPU", devices,
                   os.cpu_count() or 1)
    say = progress if env.main else (lambda _: None)
    cfg = opts.stage_config()
    try:
        if opts.shards and env.main:
            data_parts(opts, cfg, out, say)
        if dist.is_initialized():
            dist.barrier()  # the other ranks wait while rank 0 measures the data alone
        if env.world > 1:
            out.parallel = f"{'FSDP' if opts.fsdp else 'DDP'} over {env.world} ranks"
        elif opts.fsdp:
            out.notes.append("--fsdp in one process shards nothing (as in training): run it under torchrun "
                             "--nproc-per-node N to measure FSDP over N devices")
        say(f"model: {opts.model} {opts.objective} {opts.precision}, batch {opts.batch_size} ({out.parallel})")
        step = step_rate(opts, cfg, env)
    finally:
        distributed.teardown()
    out.step_clips_s, out.spread["model step"], out.step_peak_gb = step.rates.median, step.rates.spread, step.peak_gb
    out.top_ops, flops = step.top_ops, step.flops
    out.gflops_per_clip = flops.per_sample / 1e9
    peak = peak_for(out.device, out.device_name, opts.precision)
    out.peak_tflops, out.peak_source = peak.flops / 1e12, peak.source
    out.notes += [w for w in (precision_warning(out.device, opts.precision, peak),) if w]
    out.mfu = out.step_clips_s * flops.per_sample / peak.flops
    verdict(out)
    if opts.plan_for:
        plan_feed(out, opts)
    return out if env.main else None


def plan_feed(m: Measured, opts: BenchOptions) -> None:
    """--plan-for: the cores a GPU of that peak needs to train at --mfu, from the trained clips/s
    one loader worker delivers here (the loader at one worker)."""
    if not m.loader.get(1):
        m.notes.append("--plan-for needs the loader's rate per core: give --shards (a corpus of the clips to train on)")
        return
    name, tflops = gpu_peak(opts.plan_for, opts.precision)
    m.plan = FeedPlan(name, tflops, opts.mfu, m.gflops_per_clip, m.loader[1]).to_json()


def data_parts(opts: BenchOptions, cfg, out: Measured, say) -> None:
    """Decode per backend and the loader per worker count, each in turns over `rounds` rounds."""
    urls, _ = resolve_shards(list(opts.shards))
    videos = read_clips(urls, opts.decode_clips)
    out.feed = feed_text(videos, replace(cfg.data, decoder=opts.decoders[0]))
    say(f"decode: {', '.join(opts.decoders)}, {opts.rounds} rounds in turns")
    timed = in_turns(lambda backend: decode_rate(videos, cfg.data, backend, opts.decode_device), list(opts.decoders),
                     opts.rounds)
    for backend, rounds in timed.items():
        out.decode[backend], out.spread[f"decode {backend}"] = rounds.median, rounds.spread
    notes: set[str] = set()

    def loader(workers: int) -> float:
        it, note = stage_loader(opts, cfg, urls, workers)
        notes.add(note)
        return loader_rate(it)

    counts = _doublings(opts.max_workers or out.cores)
    say(f"loader: {', '.join(map(str, counts))} worker(s), {opts.rounds} rounds in turns")
    for workers, rounds in in_turns(loader, counts, opts.rounds).items():
        out.loader[workers], out.spread[f"loader {workers}"] = rounds.median, rounds.spread
    out.notes += sorted(n for n in notes if n)


def feed_text(videos: list[dict], data) -> str:
    """What the loader measured reads and does, for the table: the figures hold for these only."""
    rows = [json.loads(v["json"]) for v in videos[:1] if "json" in v]
    fps, source = (rows[0].get("fps"), rows[0].get("source_fps")) if rows else (None, None)
    if fps and source and abs(fps - source) > 1e-3:
        read_as = clip_stride(data.stride, rows[0])
        storage = f"clips stored at {fps:g} fps of {source:g} (stride {data.stride} read as {read_as:g})"
    else:
        storage = f"clips stored at their source's rate{f' ({fps:g} fps)' if fps else ''}"
    where = "the device" if data.resizes_on_device else "the loader"
    return f"{data.num_views} view(s) per decoded clip; {storage}; views resized on {where}; {data.decoder}"


def _doublings(limit: int) -> list[int]:
    return [2**k for k in range(int(math.log2(max(limit, 1))) + 1)]


def verdict(m: Measured) -> None:
    """Workers per device: the step rate over one worker's loader rate (the loader at one worker,
    else the best decoder's rate, which is an upper bound of a worker's)."""
    per_worker = m.loader.get(1) or max(m.decode.values(), default=0.0)
    if not per_worker:
        m.notes.append("no shards given: the loader was not measured, so no worker count is advised")
        return
    m.workers_needed = max(1, math.ceil(m.step_clips_s / per_worker))
    m.cores_suffice = m.workers_needed * m.devices <= m.cores
