"""Stages 2 and 3: supervised training of the classifier (post-pretraining on the labeled hybrid,
fine-tuning on the target) with the VideoMAE V2 recipe, streaming from corpus shards."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from timm.data import Mixup
from timm.data.mixup import mixup_target
from timm.data.random_erasing import RandomErasing
from timm.loss import SoftTargetCrossEntropy
from timm.utils import ModelEmaV3
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from manifests.atomic import atomic_path
from manifests.labels.label_list import read_label_list
from trainer import checkpoint, distributed
from trainer.config import derive
from trainer.data.augment import to_model_input
from trainer.data.labeled import LabeledStream, corpus_labels
from trainer.data.shards import resolve_shards
from trainer.data.stream import StreamState, loader_for
from trainer.data.video_augment import ClipAugment
from trainer.eval.evaluate import classify, score
from trainer.finetune_config import FinetuneConfig
from trainer.init_model import InitError, classifier_from, head_rows, initialize, read_checkpoint
from trainer.models import create_classifier
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


def _labels(cfg: FinetuneConfig) -> list[str]:
    labels = corpus_labels(list(cfg.shards))
    if labels is None and cfg.label_map_to:
        labels = read_label_list(cfg.label_map_to)
    if labels is None:
        raise InitError("the shards are URL patterns without a labels.txt: give --label-map-to with the class names "
                        "(one per line, in label-id order)")
    return labels


def _mixer(cfg: FinetuneConfig, classes: int) -> Mixup | None:
    if cfg.mix_prob <= 0 or (cfg.mixup <= 0 and cfg.cutmix <= 0):
        return None
    return Mixup(mixup_alpha=cfg.mixup, cutmix_alpha=cfg.cutmix, prob=cfg.mix_prob, switch_prob=0.5,
                 label_smoothing=cfg.smoothing, num_classes=classes)


def mix_batch(video: torch.Tensor, labels: torch.Tensor, mixer: Mixup | None, eraser: RandomErasing | None,
              classes: int, smoothing: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Random erasing, then mixup or cutmix, on a normalized (B, C, T, H, W) batch: the frames are
    folded into channels so that an erased or pasted box is the same box on every frame.
    Returns the batch and soft targets (B, classes)."""
    b, c, t, h, w = video.shape
    flat = video.reshape(b, c * t, h, w)
    if eraser is not None:
        flat = eraser(flat)
    if mixer is not None:
        flat, target = mixer(flat, labels)
    else:
        target = mixup_target(labels, classes, smoothing=smoothing)
    return flat.view(b, c, t, h, w), target


def distill_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher ‖ student) on temperature-softened logits, scaled by T² (Hinton et al.)."""
    t = temperature
    return F.kl_div(F.log_softmax(student / t, dim=-1), F.log_softmax(teacher / t, dim=-1), log_target=True,
                    reduction="batchmean") * t * t


def _save_best(out: Path, model, cfg: FinetuneConfig, labels: list[str], step: int, top1: float) -> None:
    with atomic_path(out / "best.pt") as tmp:
        torch.save({"model": model.state_dict(), "config": dataclasses.asdict(cfg), "labels": labels,
                    "step": step, "val_top1": top1}, tmp)


def finetune(cfg: FinetuneConfig, progress: bool = True) -> dict:
    env = distributed.setup()
    out = Path(cfg.out)
    urls, clips = resolve_shards(list(cfg.shards))
    labels = _labels(cfg)
    classes = len(labels)
    val_urls = resolve_shards(list(cfg.val_shards))[0] if cfg.val_shards else None
    if cfg.val_shards and corpus_labels(list(cfg.val_shards)) not in (None, labels):
        raise InitError(f"the validation corpus {list(cfg.val_shards)} has other classes than the training corpus")
    derived = derive(cfg, env.world, clips)
    torch.manual_seed(cfg.data.seed)
    model = create_classifier(cfg.model, classes, cfg.head_dropout, frames=cfg.data.frames,
                              img_size=cfg.data.img_size, tubelet=cfg.data.tubelet, patch=cfg.data.patch,
                              drop_path=cfg.drop_path, grad_checkpointing=cfg.grad_checkpointing)
    resume_from = checkpoint.latest(out)
    started = "new model (random weights)"
    if cfg.init and resume_from is None:
        ckpt = read_checkpoint(cfg.init)
        rows = None if ckpt.kind == "pretrain" else head_rows(
            ckpt, labels, classes, cfg.label_map, cfg.label_map_from, cfg.label_map_to, cfg.new_head)
        started = f"{initialize(model, ckpt, rows)} ({ckpt.path})"
    teacher = None
    if cfg.teacher:
        teacher = classifier_from(read_checkpoint(cfg.teacher), cfg.model, frames=cfg.data.frames,
                                  img_size=cfg.data.img_size).to(env.device).requires_grad_(False)
        if teacher.num_classes != classes:
            raise InitError(f"the teacher {cfg.teacher} has {teacher.num_classes} classes, the corpus {classes}")
    model.to(env.device)
    ema = ModelEmaV3(model, decay=cfg.ema) if cfg.ema else None
    optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay, cfg.layer_decay), lr=derived.lr,
                                  betas=cfg.betas, fused=True)
    scaler = torch.amp.GradScaler(env.device.type) if cfg.precision == "fp16" else None
    step, stream, best = 0, StreamState(), None
    if resume_from is not None:
        step, stream, state = restore(resume_from, cfg.model, model, optimizer, scaler)
        if ema is not None and state.get("ema"):
            ema.module.load_state_dict(state["ema"])
        best, started = state.get("best"), f"resuming at step {step} from {resume_from}"
    if env.main:
        print(f"vmae {cfg.stage} {cfg.model}: {len(urls)} shards, {clips if clips is not None else '?'} clips, "
              f"{classes} classes; {derived.describe()}; {started}")
    net = DistributedDataParallel(model) if env.world > 1 else model
    if cfg.compile:
        net = torch.compile(net)
    augment = ClipAugment(cfg.data.img_size, cfg.crop_scale, cfg.flip, cfg.rand_augment)
    loader = iter(loader_for(LabeledStream(urls, cfg.data, augment, env.rank, env.world, stream), cfg.batch_size))
    mixer = _mixer(cfg, classes)
    eraser = RandomErasing(cfg.erase_prob, mode="pixel", device=env.device.type) if cfg.erase_prob > 0 else None
    criterion = SoftTargetCrossEntropy()
    log = MetricsLog(out, enabled=env.main)
    autocast = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.precision)
    bar = tqdm(total=derived.steps, initial=step, desc=cfg.stage, disable=not (progress and env.main))
    stop = min(derived.steps, step + cfg.stop_after) if cfg.stop_after else derived.steps
    val_every = cfg.val_every or derived.steps
    while step < stop:
        start, waited, loss_sum, skipped = time.perf_counter(), 0.0, 0.0, 0
        lr = lr_at(step, derived.lr, cfg.min_lr, derived.warmup_steps, derived.steps)
        set_lr(optimizer, lr)
        for _ in range(cfg.accum):
            batch, wait = take_batch(loader, stream)
            waited += wait
            skipped = max(skipped, int(batch["skipped"].max()))
            target_ids = batch["label"].to(env.device)
            if int(target_ids.max()) >= classes or int(target_ids.min()) < 0:
                raise TrainingError(f"label id {int(target_ids.max())} in the shards is outside the corpus' "
                                    f"{classes} classes (labels.txt); rebuild or re-mix the corpus")
            video, target = mix_batch(to_model_input(batch["video"].to(env.device, non_blocking=True))[0],
                                      target_ids, mixer, eraser, classes, cfg.smoothing)
            with torch.autocast(env.device.type, dtype=autocast, enabled=autocast is not None):
                logits = net(video)
                loss = criterion(logits.float(), target)
                if teacher is not None:
                    with torch.no_grad():
                        teacher_logits = teacher(video).float()
                    loss = (1 - cfg.distill_weight) * loss + cfg.distill_weight * distill_loss(
                        logits.float(), teacher_logits, cfg.distill_temperature)
            loss = loss / cfg.accum
            (scaler.scale(loss) if scaler else loss).backward()
            loss_sum += loss.item()
        check_finite(loss_sum, step, out)
        grad_norm = optimizer_step(model, optimizer, scaler, cfg.clip_grad)
        if ema is not None:
            ema.update(model, step)
        step += 1
        elapsed = time.perf_counter() - start
        values = {"loss": distributed.all_reduce_mean(torch.tensor(loss_sum)).item(), "lr": lr,
                  "grad_norm": grad_norm, "clips_per_s": derived.total_batch / elapsed / cfg.data.num_views,
                  "data_wait": waited / elapsed, "skipped_samples": skipped}
        if val_urls and (step % val_every == 0 or step == derived.steps):
            scored = score(classify(ema.module if ema else model, val_urls, cfg.data, batch_size=cfg.batch_size,
                                    rank=env.rank, world=env.world), classes)
            values["val_top1"] = scored["top1"]
            if env.main and (best is None or scored["top1"] > best["top1"]):
                best = {"step": step, "top1": scored["top1"]}
                _save_best(out, ema.module if ema else model, cfg, labels, step, scored["top1"])
        log.write(step, values)
        bar.set_postfix(loss=f"{values['loss']:.4f}", lr=f"{lr:.2e}", refresh=False)
        bar.update()
        if env.main and (step % cfg.ckpt_every == 0 or step == stop):
            extra = {"labels": labels, "best": best, "ema": ema.module.state_dict() if ema else None}
            checkpoint.save(out, step, run_state(step, model, optimizer, scaler, stream, cfg, derived, **extra),
                            cfg.keep_checkpoints)
    bar.close()
    log.close()
    if env.main and step == derived.steps:
        plot_losses(out / "metrics.jsonl", out / "loss.png", title=f"{cfg.model} {cfg.stage}")
    distributed.teardown()
    return {"steps": step, "final_loss": log.last.get("loss"), "out": str(out), "best": best, "classes": classes,
            "total_steps": derived.steps}
