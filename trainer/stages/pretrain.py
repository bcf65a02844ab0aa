"""Stage 1: MAE pretraining with dual masking, streaming from corpus shards."""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from trainer import checkpoint, distributed
from trainer.config import PretrainConfig, derive
from trainer.data.augment import to_model_input
from trainer.data.shards import resolve_shards
from trainer.data.stream import StreamState, make_loader
from trainer.models import create_model
from trainer.models.pretrain import patch_targets, reconstruction_loss
from trainer.stages.curves import plot_losses
from trainer.stages.loop import (
    TrainingError,
    check_finite,
    lr_at,
    optimizer_step,
    param_groups,
    restore,
    run_state,
    set_lr,
    take_batch,
)
from trainer.stages.metrics import MetricsLog


def pretrain(cfg: PretrainConfig, progress: bool = True) -> dict:
    env = distributed.setup()
    out = Path(cfg.out)
    urls, clips = resolve_shards(list(cfg.shards))
    derived = derive(cfg, env.world, clips)
    mcfg = {"frames": cfg.data.frames, "img_size": cfg.data.img_size, "tubelet": cfg.data.tubelet,
            "patch": cfg.data.patch, "drop_path": cfg.drop_path, "grad_checkpointing": cfg.grad_checkpointing}
    torch.manual_seed(cfg.data.seed)
    model = create_model(cfg.model, **mcfg).to(env.device)
    if model.cfg.patch != cfg.data.patch:
        raise TrainingError(f"{cfg.model} uses patch {model.cfg.patch}; set data.patch to match")
    optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=derived.lr, betas=cfg.betas,
                                  fused=True)  # one kernel per step instead of many small ones
    scaler = torch.amp.GradScaler(env.device.type) if cfg.precision == "fp16" else None
    step, stream = 0, StreamState()
    resume_from = checkpoint.latest(out)
    if resume_from is not None:
        step, stream, _ = restore(resume_from, cfg.model, model, optimizer, scaler)
    if env.main:
        print(f"vmae pretrain {cfg.model}: {len(urls)} shards, {clips if clips is not None else '?'} clips; "
              f"{derived.describe()}" + (f"; resuming at step {step} from {resume_from}" if resume_from else ""))
    net = DistributedDataParallel(model) if env.world > 1 else model
    if cfg.compile:
        net = torch.compile(net)
    loader = iter(make_loader(urls, cfg.data, cfg.batch_size, env.rank, env.world, stream))
    log = MetricsLog(out, enabled=env.main)
    autocast = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.precision)
    bar = tqdm(total=derived.steps, initial=step, desc="pretrain", disable=not (progress and env.main))
    stop = min(derived.steps, step + cfg.stop_after) if cfg.stop_after else derived.steps
    while step < stop:
        start, waited, loss_sum, skipped = time.perf_counter(), 0.0, 0.0, 0
        lr = lr_at(step, derived.lr, cfg.min_lr, derived.warmup_steps, derived.steps)
        set_lr(optimizer, lr)
        for _ in range(cfg.accum):
            batch, wait = take_batch(loader, stream)
            waited += wait
            skipped = max(skipped, int(batch["skipped"].max()))
            video, pixels = to_model_input(batch["video"].to(env.device, non_blocking=True))
            hidden, not_decoded = batch["hidden"].to(env.device), batch["not_decoded"].to(env.device)
            with torch.autocast(env.device.type, dtype=autocast, enabled=autocast is not None):
                pred = net(video, hidden, not_decoded)
            targets = patch_targets(pixels, cfg.data.patch, cfg.data.tubelet)
            loss = reconstruction_loss(pred, targets, hidden, not_decoded) / cfg.accum
            (scaler.scale(loss) if scaler else loss).backward()
            loss_sum += loss.item()
        check_finite(loss_sum, step, out)
        grad_norm = optimizer_step(model, optimizer, scaler, cfg.clip_grad)
        step += 1
        elapsed = time.perf_counter() - start
        mean_loss = distributed.all_reduce_mean(torch.tensor(loss_sum)).item()
        log.write(step, {"loss": mean_loss, "lr": lr, "grad_norm": grad_norm,
                         "clips_per_s": derived.total_batch / elapsed / cfg.data.num_views,
                         "data_wait": waited / elapsed, "skipped_samples": skipped})
        bar.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{lr:.2e}", refresh=False)
        bar.update()
        if env.main and (step % cfg.ckpt_every == 0 or step == stop):
            checkpoint.save(out, step, run_state(step, model, optimizer, scaler, stream, cfg, derived),
                            cfg.keep_checkpoints)
    bar.close()
    log.close()
    if env.main and step == derived.steps:
        plot_losses(out / "metrics.jsonl", out / "loss.png", title=f"{cfg.model} pretraining")
    distributed.teardown()
    return {"steps": step, "final_loss": log.last.get("loss"), "out": str(out), "total_steps": derived.steps}
