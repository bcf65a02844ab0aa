"""`vmae bench`: how fast this machine decodes, loads and trains, before a long run is rented.

Each part runs a short warm-up and then a measured window; decode and the model step are reported
as the median with the spread of their rounds (trainer/bench/turns.py), so that a busy moment of
a shared machine shows instead of deciding a figure (the loader is measured once per worker count):
- decode: clips/s of one worker (one process, one decoder thread) per backend, on the corpus'
  own clips read from its tars into memory (what a loader worker does, without the rest); the
  backends in turns, `rounds` times;
- loader: clips/s of the whole training loader (tar streaming, decode, crop, masks, collation)
  at 1, 2, 4, ... worker processes, up to the CPU count;
- model: clips/s of each training step (forward, backward, AdamW) on data already on the device,
  so the model alone is timed (the median of the steps); its peak memory; and MFU, the model
  FLOPs of trainer/bench/flops.py per second over the device's peak (trainer/bench/peaks.py).
The verdict: loader workers one device needs to stay fed (its step rate over one worker's rate),
and whether this machine's cores can run that many for every device it has.
"""

from __future__ import annotations

import math
import os
import resource
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch

from trainer.bench.flops import StepFlops, supervised_step
from trainer.bench.peaks import peak_for
from trainer.bench.turns import Rounds, in_turns
from trainer.data.augment import to_model_input
from trainer.data.config import DataConfig
from trainer.data.decode import Video
from trainer.data.masking import MaskSpec
from trainer.data.sampling import dense_indices
from trainer.data.shards import resolve_shards
from trainer.data.stream import make_loader
from trainer.models.registry import create_classifier, model_config

OBJECTIVES = ("mae", "umt", "mae+umt", "supervised")
PRECISIONS = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
CLASSES = 710  # the supervised head's width: K710's classes


@dataclass(frozen=True)
class BenchOptions:
    shards: tuple[str, ...] = ()  # corpus folders or shard patterns; no shards: the model alone
    model: str = "vit_base"
    objective: str = "mae"
    precision: str = "bf16"
    batch_size: int = 8
    steps: int = 5
    warmup: int = 2
    decoders: tuple[str, ...] = ("torchcodec", "decord")
    decode_device: str = "cpu"
    decode_clips: int = 16
    rounds: int = 3  # decode rounds per backend, in turns
    frames: int | None = None  # the model size's when None
    img_size: int | None = None
    stride: int = 4
    grad_checkpointing: bool = False
    max_workers: int | None = None  # the CPU count when None
    teacher: str = "vit_base_patch16_clip_224"  # umt's image teacher (random weights: the same cost)
    align_layers: int = 6


@dataclass
class Measured:
    device: str
    device_name: str
    devices: int
    cores: int
    decode: dict[str, float] = field(default_factory=dict)  # backend -> clips/s per worker (median of rounds)
    loader: dict[int, float] = field(default_factory=dict)  # workers -> clips/s
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

    def to_json(self) -> dict:
        return asdict(self)


def bench(opts: BenchOptions, progress=print) -> Measured:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    out = Measured(device, torch.cuda.get_device_name() if device == "cuda" else "CPU",
                   torch.cuda.device_count() if device == "cuda" else 1, os.cpu_count() or 1)
    if opts.shards:
        urls, _ = resolve_shards(list(opts.shards))
        data, masks = loader_config(opts)
        videos = read_clips(urls, opts.decode_clips)
        progress(f"decode: {', '.join(opts.decoders)}, {opts.rounds} rounds in turns")
        timed = in_turns(lambda backend: decode_rate(videos, data, backend, opts.decode_device), list(opts.decoders),
                         opts.rounds)
        for backend, rounds in timed.items():
            out.decode[backend], out.spread[f"decode {backend}"] = rounds.median, rounds.spread
        for w in _doublings(opts.max_workers or out.cores):
            progress(f"loader: {w} worker(s)")
            out.loader[w] = loader_rate(urls, replace(data, workers=w, decoder=opts.decoders[0]), opts.batch_size,
                                        masks)
    progress(f"model: {opts.model} {opts.objective} {opts.precision}, batch {opts.batch_size}")
    steps, out.step_peak_gb, flops = step_rate(opts, device)
    out.step_clips_s, out.spread["model step"] = steps.median, steps.spread
    out.gflops_per_clip = flops.per_sample / 1e9
    peak = peak_for(device, out.device_name, opts.precision)
    out.peak_tflops, out.peak_source = peak.flops / 1e12, peak.source
    out.mfu = out.step_clips_s * flops.per_sample / peak.flops
    verdict(out)
    return out


def loader_config(opts: BenchOptions) -> tuple[DataConfig, MaskSpec | None]:
    """The data a training run of these options reads: stage 1's own (UMT's presets take 8 sparse
    frames at tubelet 1) with its masks; for the supervised stage, the model size's frames through
    the same pretraining loader (its labeled loader's augmentations are not measured)."""
    if opts.objective == "supervised":
        cfg = model_config(opts.model, **_shape(opts))
        return DataConfig(frames=cfg.frames, stride=opts.stride, img_size=cfg.img_size, patch=cfg.patch,
                          tubelet=cfg.tubelet, workers=1, shuffle_buffer=16), None
    from trainer.stages.pretrain import mask_spec

    cfg = _pretrain_config(opts)
    return replace(cfg.data, workers=1, shuffle_buffer=16), mask_spec(cfg)


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


def read_clips(urls: list[str], clips: int) -> list[bytes]:
    """The first `clips` video members of the shards, in memory (as a loader worker reads them)."""
    from manifests.tars import members

    videos: list[bytes] = []
    for url in urls:
        with open(url, "rb") as f:
            for member, payload in members(f, url, max_bytes=1 << 30):
                if payload is not None and member.name.endswith(".mp4"):
                    videos.append(payload)
                if len(videos) >= clips:
                    return videos
    return videos


def decode_rate(videos: list[bytes], data: DataConfig, backend: str, device: str) -> float:
    """Clips/s of one process decoding the clips from memory with one thread."""
    if not videos:
        return 0.0
    rng = np.random.default_rng(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a loader worker
    try:
        _decode_one(videos[0], data, backend, device, rng)  # loading the library is start-up
        start = time.perf_counter()
        for v in videos:
            _decode_one(v, data, backend, device, rng)
        return len(videos) / (time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)


def _decode_one(payload: bytes, data: DataConfig, backend: str, device: str, rng) -> None:
    video = Video(payload, backend, device)
    video.get(dense_indices(video.frames, data.frames, data.stride, rng))


def loader_rate(urls: list[str], data: DataConfig, batch: int, masks: MaskSpec | None, batches: int = 6) -> float:
    loader = iter(make_loader(urls, data, batch, masks))
    next(loader)  # the workers' start-up is not steady-state throughput
    start = time.perf_counter()
    done = 0
    for _ in range(batches):
        try:
            done += len(next(loader)["video"])
        except StopIteration:
            break
    return done / (time.perf_counter() - start) if done else 0.0


def step_rate(opts: BenchOptions, device: str) -> tuple[Rounds, float, StepFlops]:
    """Clips/s of each training step with the batch already on the device, the peak memory (GB: the
    device's allocator peak on a GPU, the process' on the CPU), and the step's FLOPs per clip.
    Stage 1 runs the trainer's own objective (its parts, masks and teacher, with random teacher
    weights: they cost the same); the supervised stage a classifier and cross-entropy."""
    torch.manual_seed(0)
    if opts.objective == "supervised":
        model, loss_of, flops = _supervised(opts, device)
    else:
        model, loss_of, flops = _stage_one(opts, device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device == "cuda")
    autocast = torch.autocast(device_type=device, dtype=PRECISIONS[opts.precision],
                              enabled=opts.precision != "fp32")

    def step() -> None:
        with autocast:
            loss = loss_of()
        optimizer.zero_grad(set_to_none=True)
        loss.float().backward()
        optimizer.step()

    for _ in range(opts.warmup):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    rates = []
    for _ in range(opts.steps):
        start = time.perf_counter()
        step()
        if device == "cuda":
            torch.cuda.synchronize()
        rates.append(opts.batch_size / (time.perf_counter() - start))
    peak = (torch.cuda.max_memory_allocated() if device == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024) / 1e9
    return Rounds(tuple(rates)), peak, flops


def _video(opts: BenchOptions, frames: int, size: int, device: str) -> torch.Tensor:
    return torch.randint(0, 256, (opts.batch_size, 3, frames, size, size), dtype=torch.uint8, device=device)


def _supervised(opts: BenchOptions, device: str):
    model = create_classifier(opts.model, CLASSES, **_shape(opts), grad_checkpointing=opts.grad_checkpointing)
    model = model.to(device)
    video = _video(opts, model.cfg.frames, model.cfg.img_size, device)
    labels = torch.randint(0, CLASSES, (opts.batch_size,), device=device)
    return (model, lambda: torch.nn.functional.cross_entropy(model(to_model_input(video)[0]), labels),
            supervised_step(model.cfg, CLASSES))


def _pretrain_config(opts: BenchOptions):
    """The stage-1 config a run of these options has (the objective's presets included)."""
    from trainer.config import PretrainConfig
    from trainer.settings import configure

    doc = {"model": opts.model, "objective": opts.objective, "steps": 1, "out": "unused", "shards": ["unused"],
           "grad_checkpointing": opts.grad_checkpointing, "data": {**_shape(opts), "stride": opts.stride}}
    if "umt" in opts.objective:
        doc |= {"teacher": opts.teacher, "teacher_weights": "random", "align_layers": opts.align_layers}
    return configure(PretrainConfig, doc)


def _stage_one(opts: BenchOptions, device: str):
    from trainer.objectives.pretraining import pretrain_objective
    from trainer.stages.pretrain import PretrainStage, mask_spec, pretrain_flops

    cfg = _pretrain_config(opts)
    model = PretrainStage(cfg).build_model().to(device)
    objective = pretrain_objective(cfg, model, torch.device(device)).to(device)
    video = _video(opts, model.cfg.frames, model.cfg.img_size, device)
    masks, rng = mask_spec(cfg), np.random.default_rng(0)
    drawn = [masks.make(cfg.data, rng) for _ in range(opts.batch_size)]  # the model's grid is the data's
    fixed = {k: torch.from_numpy(np.stack([d[k] for d in drawn])).to(device) for k in (drawn[0] if drawn else {})}
    return model, lambda: objective(model, {"video": video, **fixed})[0], pretrain_flops(cfg, model, objective)


def _shape(opts: BenchOptions) -> dict:
    return {k: v for k, v in (("frames", opts.frames), ("img_size", opts.img_size)) if v is not None}
