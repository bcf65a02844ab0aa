"""The one training loop. run_stage owns set-up, the optimizer and its schedule, precision,
gradient accumulation and clipping, DDP or FSDP, resume, the policy for non-finite losses,
metrics (JSONL, TensorBoard, progress bar), checkpoints and the loss curve; the Stage it is given
decides the model, the objective, the data and what happens after each step."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from trainer import checkpoint, distributed, parallel
from trainer.checkpoint import sharded
from trainer.config import Derived, derive
from trainer.data.augment import resize_views
from trainer.data.stream import StreamState, advance
from trainer.distributed import Dist
from trainer.errors import TrainingError
from trainer.measure.peaks import peak_for, precision_warning
from trainer.stages.base import Stage, Trainee
from trainer.stages.curves import plot_losses
from trainer.stages.metrics import MetricsLog
from trainer.stages.optim import lr_at, optimizer_step, set_lr

AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


def take_batch(loader, stream: StreamState) -> tuple[dict, float]:
    """The next batch, recorded as consumed (for checkpoints), and the seconds spent waiting for it."""
    t0 = time.perf_counter()
    batch = next(loader)
    waited = time.perf_counter() - t0
    advance(stream, batch)
    return batch, waited


# --nan skip: this many skipped steps in a row means the weights themselves went bad; stop.
MAX_SKIPPED_IN_A_ROW = 20


def non_finite(what: str, value: float, step: int, out: Path, detail: str = "") -> TrainingError:
    kept = checkpoint.latest(out)
    return TrainingError(f"{what} is {value} at step {step}{detail}; stopped without saving. The last good checkpoint "
                         f"is {kept or 'none'}; lower --lr, raise --warmup-fraction or use --precision bf16")


def _to(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


@dataclass
class Run:
    """What the loop carries from one step to the next."""

    stage: Stage
    env: Dist
    derived: Derived
    model: torch.nn.Module
    trainee: Trainee
    net: torch.nn.Module  # the trainee, wrapped by DDP and torch.compile when asked
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler | None
    loader: Iterator[dict]
    stream: StreamState
    step: int
    skipped_steps: int = 0  # --nan skip: steps whose loss or gradients were not finite
    skipped_in_a_row: int = 0
    flops_per_clip: float | None = None  # model FLOPs of one clip's step (MFU); None: not counted
    peak_flops: float | None = None  # the device's peak FLOP/s in the run's precision
    peak_source: str = ""  # where peak_flops came from (a datasheet, or measured here)
    mfu_warned: bool = False


def seed_everything(seed: int) -> None:
    """Every generator a step draws from in this process: torch's (weights, dropout, drop path),
    numpy's and Python's (timm's mixup/cutmix and random erasing), so that a run repeats."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def same_ranks(state: dict, env: Dist) -> bool:
    """Whether a checkpoint was written by a run with as many ranks as this one."""
    return state["derived"]["world"] == env.world


def start(stage: Stage, env: Dist) -> Run:
    """Set-up: data, derived values, model (new, from --init, or resumed), objective, sharding,
    optimizer."""
    cfg = stage.cfg
    urls, clips = stage.shards()
    derived = derive(cfg, env.world, clips)
    seed_everything(cfg.data.seed)
    model = stage.build_model()
    resume_from = checkpoint.latest(Path(cfg.out))
    started = stage.initialize(model) if resume_from is None else ""
    trainee = Trainee(model, stage.build_objective(model, env)).to(env.device)
    if cfg.fsdp:
        parallel.shard(trainee, env, cfg.precision)
    # fused AdamW: one kernel per step instead of many small ones (it takes no sharded parameters)
    optimizer = torch.optim.AdamW(stage.param_groups(trainee), lr=derived.lr, betas=cfg.betas,
                                  fused=not parallel.is_sharded(trainee))
    scaler = torch.amp.GradScaler(env.device.type) if cfg.precision == "fp16" else None
    step, stream, state = 0, StreamState(), None
    if resume_from is not None:
        step, stream, state = checkpoint.restore(resume_from, cfg, trainee, optimizer, scaler)
        stage.load_extra_state(state)
        started = f"resuming at step {step} from {resume_from}"
        if not same_ranks(state, env):  # other ranks read other shards: positions do not carry over
            stream = StreamState()
            started += (f" with {env.world} ranks instead of {state['derived']['world']}: the data order starts "
                        "afresh (clips already seen may come again)")
    flops = stage.flops_per_clip(trainee, env.world)
    peak = peak_for(str(env.device), _device_name(env.device), cfg.precision) if flops else None
    if env.main:
        counted = (f"; {_figure(flops / 1e9)} GFLOP per clip, MFU against {_figure(peak.flops / 1e12)} TFLOP/s "
                   f"({peak.source})" if flops else "")
        print(f"{stage.describe(urls, clips)}; {derived.describe()}{'; FSDP' if cfg.fsdp else ''}; {started}{counted}")
        for warning in (precision_warning(env.device.type, cfg.precision, peak) if peak else "",
                        few_clips_warning(cfg.data.num_views, derived.total_batch)):
            if warning:
                print(f"warning: {warning}")
    net = parallel.wrap(trainee, env)
    loader = iter(stage.loader(urls, env, stream))
    if state is not None and same_ranks(state, env):
        # after the loader started, so that the next draws are the ones an uninterrupted run makes
        checkpoint.restore_rng(state["rng"])
    return Run(stage, env, derived, model, trainee, torch.compile(net) if cfg.compile else net, optimizer, scaler,
               loader, stream, step, flops_per_clip=flops, peak_flops=peak.flops if peak else None,
               peak_source=peak.source if peak else "")


# Under this many distinct clips per step, repeated views cost accuracy: the demo (16 views of 4
# clips a step) fell from top-1 1.0 to 0.825 at 4 views per clip.
FEW_CLIPS_PER_STEP = 16


def few_clips_warning(views: int, total_batch: int) -> str:
    """Why a total batch is too small for this many views per decoded clip; '' when it is not."""
    clips = total_batch / views
    if views == 1 or clips >= FEW_CLIPS_PER_STEP:
        return ""
    return (f"a step of {total_batch} views at {views} views per decoded clip sees only {clips:g} distinct clips; "
            f"with so few, repeated views cost accuracy: raise the batch or lower --num-views (1 for a batch this "
            "small)")


def _figure(x: float) -> str:
    """A figure a reader can use at any size: 155, 3.2, 0.012 (not 0 for a tiny model)."""
    return f"{x:,.0f}" if x >= 10 else f"{x:.2g}"


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"


# What the stream counts per worker and the loop logs: always the skipped samples, the others when
# they happen.
STREAM_COUNTS = ("skipped", "bad_shards", "decode_fallbacks")


def train_step(run: Run, params: list[torch.Tensor]) -> dict:
    """One optimizer step over `accum` micro-batches; returns its metrics. A step whose loss or
    gradient norm is not finite (on any rank) stops the run or is skipped (see after_non_finite)."""
    cfg, env, derived = run.stage.cfg, run.env, run.derived
    start, waited, loss_sum, parts = time.perf_counter(), 0.0, 0.0, {}
    counts = dict.fromkeys(STREAM_COUNTS, 0)
    lr = lr_at(run.step, derived.lr, cfg.min_lr, derived.warmup_steps, derived.steps)
    set_lr(run.optimizer, lr)
    autocast = AUTOCAST.get(cfg.precision)
    for _ in range(cfg.accum):
        batch, wait = take_batch(run.loader, run.stream)
        waited += wait
        counts = {k: max(n, int(batch[k].max())) for k, n in counts.items()}
        batch = resize_views(_to(batch, env.device), cfg.data.img_size, env.device)  # in float32, as a worker does
        with torch.autocast(env.device.type, dtype=autocast, enabled=autocast is not None):
            loss, named = run.net(batch)
        loss = loss / cfg.accum
        (run.scaler.scale(loss) if run.scaler else loss).backward()
        loss_sum += loss.item()
        for k, v in named.items():
            parts[k] = parts.get(k, 0.0) + float(v) / cfg.accum
    mean_loss = distributed.all_reduce_mean(torch.tensor(loss_sum)).item()  # not finite when any rank's is not
    grad_norm = optimizer_step(params, run.optimizer, run.scaler, cfg.clip_grad,
                               apply=lambda norm: math.isfinite(mean_loss) and math.isfinite(norm))
    run.step += 1
    after_non_finite(run, mean_loss, grad_norm)
    elapsed = time.perf_counter() - start
    per_device = derived.total_batch / elapsed / cfg.data.num_views / env.world
    mfu = {"mfu": per_device * run.flops_per_clip / run.peak_flops} if run.flops_per_clip else {}
    if mfu and mfu["mfu"] > 1 and not run.mfu_warned:
        run.mfu_warned = True
        if env.main:
            print(f"warning: MFU {mfu['mfu']:.2f} at step {run.step} is above 1: the peak it divides by "
                  f"({run.peak_flops / 1e12:.3g} TFLOP/s, {run.peak_source}) is below what this step did, so "
                  "the device was busy when the run measured it; this run's MFU figures read high")
    return {"loss": mean_loss, **parts, "lr": lr, "grad_norm": grad_norm,
            "clips_per_s": per_device * env.world, "clips_per_s_per_device": per_device, **mfu,
            "data_wait": waited / elapsed,
            "skipped_samples": counts.pop("skipped"), **{k: n for k, n in counts.items() if n},
            **({"skipped_steps": run.skipped_steps} if run.skipped_steps else {})}


def after_non_finite(run: Run, loss: float, grad_norm: float) -> None:
    """The --nan policy, once the step was taken or not: stop with a message, or count the skipped
    step (stopping after MAX_SKIPPED_IN_A_ROW of them). fp16 gradients that overflow are routine:
    the scaler lowers its scale and the step is skipped, with no policy involved."""
    cfg = run.stage.cfg
    if math.isfinite(loss) and (math.isfinite(grad_norm) or run.scaler is not None):
        run.skipped_in_a_row = 0
        return
    what, value = ("loss", loss) if not math.isfinite(loss) else ("gradient norm", grad_norm)
    if cfg.nan == "stop":
        raise non_finite(what, value, run.step, Path(cfg.out))
    run.skipped_steps, run.skipped_in_a_row = run.skipped_steps + 1, run.skipped_in_a_row + 1
    if run.skipped_in_a_row >= MAX_SKIPPED_IN_A_ROW:
        raise non_finite(what, value, run.step, Path(cfg.out), f" for the {run.skipped_in_a_row}th step in a row "
                         "(--nan skip skipped them all: the weights themselves went bad)")


_PEER_LOST = ("Connection closed", "Connection reset", "Broken pipe", "timed out", "Timeout", "NCCL", "gloo")


def _lost_a_peer(e: Exception) -> bool:
    """A collective that failed because a rank or the network went away (not a bug of this rank)."""
    return isinstance(e, dist.DistError) or any(w in str(e) for w in _PEER_LOST)


def save(run: Run, out: Path) -> None:
    """A checkpoint of the run: rank 0 writes it, or every rank its shards (--fsdp)."""
    cfg = run.stage.cfg
    record = checkpoint.run_record(run.step, run.trainee, run.optimizer, run.scaler, run.stream, cfg, run.derived,
                                   **run.stage.extra_state())
    if cfg.fsdp:
        sharded.save(out, run.step, run.trainee, run.optimizer, record, run.env.main)
        if run.env.main:
            checkpoint.prune(out, cfg.keep_checkpoints)
    elif run.env.main:
        checkpoint.save(out, run.step, record, cfg.keep_checkpoints)


def run_stage(stage: Stage, progress: bool = True) -> dict:
    cfg, env = stage.cfg, distributed.setup()
    out = Path(cfg.out)
    run = start(stage, env)
    log = MetricsLog(out, enabled=env.main)
    params = [p for p in run.trainee.parameters() if p.requires_grad]
    total = run.derived.steps
    bar = tqdm(total=total, initial=run.step, desc=stage.title, disable=not (progress and env.main))
    stop = min(total, run.step + cfg.stop_after) if cfg.stop_after else total
    run.trainee.train()
    try:
        while run.step < stop:
            values = train_step(run, params)
            values |= stage.after_step(run.step, run.trainee, env, last=run.step == total)
            log.write(run.step, values)
            bar.set_postfix(loss=f"{values['loss']:.4f}", lr=f"{values['lr']:.2e}", refresh=False)
            bar.update()
            if run.step % cfg.ckpt_every == 0 or run.step == stop:
                save(run, out)
    except (dist.DistError, RuntimeError) as e:
        if env.world == 1 or not _lost_a_peer(e):
            raise
        first = str(e).strip().splitlines()[0][:300]
        raise TrainingError(f"rank {env.rank} of {env.world} lost contact with the others at step {run.step + 1} "
                            f"({first}): another rank probably died (its log says why) or the network failed. This "
                            f"rank stops too. The last checkpoint is {checkpoint.latest(out) or 'none'}; rerun the "
                            "same command to resume") from e
    bar.close()
    log.close()
    if env.main and run.step == total:
        plot_losses(out / "metrics.jsonl", out / "loss.png", title=f"{cfg.model} {stage.title}")
    distributed.teardown()
    return {"steps": run.step, "final_loss": log.last.get("loss"), "out": str(out), "total_steps": total,
            **stage.result()}
