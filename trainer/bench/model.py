"""The model part of `vmae bench`: one training step of the stage an objective belongs to, with
the trainer's own model, objective and optimizer on a batch already on the device, so that the
model alone is timed. Under torchrun every rank steps together, as DDP (or, with --fsdp, FSDP2)
in the trainer; a step takes as long as its slowest rank."""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from trainer import parallel
from trainer.bench.setup import CLASSES, BenchOptions
from trainer.bench.turns import Rounds
from trainer.distributed import Dist
from trainer.measure.flops import StepFlops
from trainer.stages.base import Trainee
from trainer.stages.loop import AUTOCAST
from trainer.stages.optim import optimizer_step

PROFILED_STEPS = 2
TOP_OPS = 10


@dataclass
class StepFigures:
    rates: Rounds  # clips/s of each measured step, per device
    peak_gb: float  # the device's allocator peak on a GPU, the process' on the CPU
    flops: StepFlops  # per clip
    top_ops: list[dict] = field(default_factory=list)  # --profile: the ops that took the most time


def step_rate(opts: BenchOptions, cfg, env: Dist) -> StepFigures:
    """Clips/s of each training step per device with the batch already on it, its peak memory and
    FLOPs per clip, and with --profile where the time goes. Teachers have random weights: they cost
    the same as real ones. `cfg` is opts.stage_config()."""
    torch.manual_seed(0)
    device = env.device
    trainee, batch, flops = _BUILDERS.get(opts.objective, _stage_one)(cfg, device, env.world)
    trainee = trainee.to(device)
    if opts.fsdp:
        parallel.shard(trainee, env, opts.precision)
    net = parallel.wrap(trainee, env)
    if opts.compile:
        net = torch.compile(net)  # compiled in the warm-up steps, as a run compiles in its first
    params = [p for p in trainee.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4, fused=not parallel.is_sharded(trainee))
    scaler = torch.amp.GradScaler(device.type) if opts.precision == "fp16" else None
    autocast = AUTOCAST.get(opts.precision)

    def step() -> None:
        with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
            loss, _ = net(dict(batch))  # the objective writes its own entries (masks, targets) into the batch
        (scaler.scale(loss) if scaler else loss).backward()
        optimizer_step(params, optimizer, scaler, clip=None)  # the training loop's: gradient norm, step, zero

    for _ in range(opts.warmup):
        step()
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    rates = []
    for _ in range(opts.steps):
        start = time.perf_counter()
        step()
        _sync(device)
        rates.append(opts.batch_size / _slowest(time.perf_counter() - start))
    peak = (torch.cuda.max_memory_allocated() if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024) / 1e9
    figures = StepFigures(Rounds(tuple(rates)), peak, flops)
    if opts.profile:
        figures.top_ops = profiled(step, device, Path(opts.profile), env.main)
    return figures


def clip_flops(opts: BenchOptions, cfg) -> StepFlops:
    """FLOPs per clip of the stage's step, as step_rate counts them (the model is built on the
    CPU with random weights and not run)."""
    return _BUILDERS.get(opts.objective, _stage_one)(cfg, torch.device("cpu"), 1)[2]


def profiled(step, device: torch.device, folder: Path, main: bool) -> list[dict]:
    """PROFILED_STEPS more steps under torch.profiler: its Chrome trace (folder/trace.json, for
    chrome://tracing or Perfetto; rank 0's under torchrun) and the TOP_OPS ops by their own time on
    the device (the CPU's where there is no GPU), per step and as a share of all ops' time."""
    from torch.profiler import ProfilerActivity, profile

    cuda = device.type == "cuda"
    with profile(activities=[ProfilerActivity.CPU, *([ProfilerActivity.CUDA] if cuda else [])]) as prof:
        for _ in range(PROFILED_STEPS):
            step()
            _sync(device)
    if main:
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / "trace.json.partial"
        prof.export_chrome_trace(str(partial))
        partial.replace(folder / "trace.json")
    own = "self_device_time_total" if cuda else "self_cpu_time_total"
    ops = [e for e in prof.key_averages() if getattr(e, own) > 0]
    total = sum(getattr(e, own) for e in ops) or 1.0
    ops.sort(key=lambda e: getattr(e, own), reverse=True)
    return [{"op": e.key, "ms_per_step": getattr(e, own) / 1e3 / PROFILED_STEPS, "share": getattr(e, own) / total}
            for e in ops[:TOP_OPS]]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _slowest(seconds: float) -> float:
    """The step's time on the slowest rank (all of them wait for it at the next collective)."""
    if not dist.is_initialized():
        return seconds
    t = torch.tensor([seconds], dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t)


def _video(cfg, device: torch.device) -> torch.Tensor:
    data = cfg.data
    shape = (cfg.batch_size, 3, data.frames, data.img_size, data.img_size)
    return torch.randint(0, 256, shape, dtype=torch.uint8, device=device)


def _stage_one(cfg, device: torch.device, world: int) -> tuple[Trainee, dict, StepFlops]:
    from trainer.objectives.pretraining import pretrain_objective
    from trainer.stages.pretrain import PretrainStage, mask_spec, pretrain_flops

    model = PretrainStage(cfg).build_model()
    objective = pretrain_objective(cfg, model, device)
    masks, rng = mask_spec(cfg), np.random.default_rng(0)
    drawn = [masks.make(cfg.data, rng) for _ in range(cfg.batch_size)]  # as the loader draws them, per clip
    fixed = {k: torch.from_numpy(np.stack([d[k] for d in drawn])).to(device) for k in (drawn[0] if drawn else {})}
    return Trainee(model, objective), {"video": _video(cfg, device), **fixed}, pretrain_flops(cfg, model, objective)


def _supervised(cfg, device: torch.device, world: int) -> tuple[Trainee, dict, StepFlops]:
    """The fine-tuning recipe's objective (mixup, cutmix, random erasing, label smoothing) on a
    head of K710's classes."""
    from trainer.stages.finetune import classifier, supervised_flops, supervised_objective

    model, objective = classifier(cfg, CLASSES), supervised_objective(cfg, CLASSES, device.type)
    labels = torch.randint(0, CLASSES, (cfg.batch_size,), device=device)
    return (Trainee(model, objective), {"video": _video(cfg, device), "label": labels},
            supervised_flops(cfg, model, objective))


def text_tower(video_dim: int, fusion_layers: int):
    """BERT-base's shape for the text tower (UMT's for B), BERT-large's for a video tower of its
    width or more (UMT's for L)."""
    from trainer.models.text import TextConfig

    large = {"dim": 1024, "depth": 24, "heads": 16, "mlp_dim": 4096} if video_dim >= 1024 else {}
    return TextConfig(**large, fusion_layers=fusion_layers, video_dim=video_dim)


def _video_language(cfg, device: torch.device, world: int) -> tuple[Trainee, dict, StepFlops]:
    """A video step of the video-language stage, every loss of the recipe on, captions of the
    recipe's length (no padding: every token costs)."""
    from trainer.models.video_language import VideoLanguageModel
    from trainer.objectives.vl import VideoLanguage
    from trainer.stages.vlpretrain import video_config, vl_flops

    video = video_config(cfg)
    text = text_tower(video.dim, cfg.vl.fusion_layers)
    model = VideoLanguageModel(video, text, cfg.vl.embed_dim)
    objective = VideoLanguage.build(cfg, model, device)
    length = cfg.vl.max_tokens
    ids = torch.randint(max(text.cls_id, text.sep_id, text.mask_id) + 1, text.vocab_size, (cfg.batch_size, length),
                        device=device)
    ids[:, 0] = text.cls_id
    batch = {"video": _video(cfg, device), "ids": ids, "keep": torch.ones_like(ids, dtype=torch.bool),
             "caption_id": torch.arange(cfg.batch_size, device=device)}
    return Trainee(model, objective), batch, vl_flops(cfg, model, objective, world)


_BUILDERS = {"supervised": _supervised, "vl": _video_language}  # every other objective is stage 1's
