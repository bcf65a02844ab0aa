"""Stages 2 and 3: supervised training of the classifier (post-pretraining on the labeled hybrid,
fine-tuning on the target) with the VideoMAE V2 recipe. What is decided here: the class list, the
classifier and where its weights come from (--init, head rows), the supervised objective (with a
distillation teacher), layer-wise LR decay, and after each step the EMA and validation."""

from __future__ import annotations

from pathlib import Path

from timm.utils import ModelEmaV3
from torch import nn
from torch.utils.data import DataLoader

from manifests.labels.label_list import read_label_list
from trainer import checkpoint, parallel
from trainer.config import FinetuneConfig
from trainer.data.labeled import LabeledStream, corpus_labels
from trainer.data.shards import resolve_shards
from trainer.data.stream import StreamState, loader_for
from trainer.data.video_augment import ClipAugment
from trainer.distributed import Dist
from trainer.errors import CheckpointError
from trainer.eval.evaluate import classify, score
from trainer.measure.flops import StepFlops, StepShape
from trainer.models.families import family_of
from trainer.models.registry import create_classifier
from trainer.objectives.base import Objective
from trainer.objectives.supervised import Supervised
from trainer.stages.base import Stage, Trainee
from trainer.stages.heads import head_rows
from trainer.stages.loop import run_stage
from trainer.stages.optim import param_groups


def corpus_classes(cfg: FinetuneConfig) -> list[str]:
    labels = corpus_labels(list(cfg.shards))
    if labels is None and cfg.label_map_to:
        labels = read_label_list(cfg.label_map_to)
    if labels is None:
        raise CheckpointError("the shards are URL patterns without a labels.txt: give --label-map-to with the class "
                              "names (one per line, in label-id order)")
    return labels


class FinetuneStage(Stage):
    def __init__(self, cfg: FinetuneConfig):
        super().__init__(cfg)
        self.title = cfg.stage
        self.labels = corpus_classes(cfg)
        self.classes = len(self.labels)
        self.val_urls = resolve_shards(list(cfg.val_shards))[0] if cfg.val_shards else None
        if cfg.val_shards and corpus_labels(list(cfg.val_shards)) not in (None, self.labels):
            raise CheckpointError(f"the validation corpus {list(cfg.val_shards)} has other classes than the training "
                                  "corpus")
        self.ema: ModelEmaV3 | None = None
        self.best: dict | None = None

    def build_model(self) -> nn.Module:
        return classifier(self.cfg, self.classes)

    def flops_per_clip(self, trainee: Trainee, world: int = 1) -> float | None:
        return supervised_flops(self.cfg, trainee.model, trainee.objective).per_sample

    def initialize(self, model: nn.Module) -> str:
        cfg = self.cfg
        if not cfg.init:
            return super().initialize(model)
        ckpt = checkpoint.read(cfg.init)
        rows = None if not ckpt.family.head else head_rows(
            ckpt, self.labels, self.classes, cfg.label_map, cfg.label_map_from, cfg.label_map_to, cfg.new_head)
        return f"{checkpoint.load_weights(model, ckpt, rows)} ({ckpt.path})"

    def build_objective(self, model: nn.Module, env: Dist) -> Objective:
        cfg, options, teacher = self.cfg, self.cfg.supervised, None
        if options.teacher:
            teacher = checkpoint.classifier(checkpoint.read(options.teacher), cfg.model, frames=cfg.data.frames,
                                            img_size=cfg.data.img_size)
            if teacher.num_classes != self.classes:
                raise CheckpointError(f"the teacher {options.teacher} has {teacher.num_classes} classes, the corpus "
                                      f"{self.classes}")
        if cfg.ema:
            self.ema = ModelEmaV3(model, decay=cfg.ema, device=env.device)
        return supervised_objective(cfg, self.classes, env.device.type, teacher)

    def param_groups(self, trainee: Trainee) -> list[dict]:
        named = [(n.removeprefix("model."), p) for n, p in trainee.named_parameters()]
        return param_groups(named, len(trainee.model.blocks), self.cfg.weight_decay, self.cfg.layer_decay)

    def loader(self, urls: list[str], env: Dist, stream: StreamState) -> DataLoader:
        cfg = self.cfg
        augment = ClipAugment(cfg.data.img_size, cfg.crop_scale, cfg.flip, cfg.rand_augment)
        return loader_for(LabeledStream(urls, cfg.data, augment, env.rank, env.world, stream), cfg.batch_size)

    def describe(self, urls: list[str], clips: int | None) -> str:
        return f"{super().describe(urls, clips)}, {self.classes} classes"

    def after_step(self, step: int, trainee: Trainee, env: Dist, last: bool) -> dict:
        cfg = self.cfg
        if self.ema is not None:
            self.ema.update(trainee.model, step - 1)
        if not self.val_urls or not (last or (cfg.val_every and step % cfg.val_every == 0)):
            return {}
        judged = self.ema.module if self.ema is not None else trainee.model
        # a sharded model runs collectives in every forward: each rank then scores the whole
        # validation set, so that all of them make the same calls
        rank, world = (0, 1) if parallel.is_sharded(judged) else (env.rank, env.world)
        with parallel.gathered(trainee):
            scored = score(classify(judged, self.val_urls, cfg.data, batch_size=cfg.batch_size, rank=rank,
                                    world=world), self.classes)
        if self.best is None or scored["top1"] > self.best["top1"]:  # the same on every rank (scores are gathered)
            self.best = {"step": step, "top1": scored["top1"]}
            state = parallel.full_state(judged)
            if env.main:
                checkpoint.save_best(Path(cfg.out), judged, cfg, state, labels=self.labels, step=step,
                                     val_top1=scored["top1"])
        return {"val_top1": scored["top1"]}

    def extra_state(self) -> dict:
        return {"labels": self.labels, "best": self.best, "ema": self.ema.module.state_dict() if self.ema else None}

    def load_extra_state(self, state: dict) -> None:
        if self.ema is not None and state.get("ema"):
            self.ema.module.load_state_dict(state["ema"])
        self.best = state.get("best")

    def result(self) -> dict:
        return {"best": self.best, "classes": self.classes}


def classifier(cfg: FinetuneConfig, classes: int) -> nn.Module:
    """The classifier a run of `cfg` trains, with a head of `classes` (new weights)."""
    return create_classifier(cfg.model, classes, cfg.head_dropout, **cfg.data.model_args(), drop_path=cfg.drop_path,
                             grad_checkpointing=cfg.grad_checkpointing)


def supervised_objective(cfg: FinetuneConfig, classes: int, device_type: str,
                         teacher: nn.Module | None = None) -> Supervised:
    """The recipe's objective: label smoothing, mixup, cutmix, random erasing, and distillation
    from `teacher` when there is one."""
    o = cfg.supervised
    return Supervised(classes, o.smoothing, o.mixup, o.cutmix, o.mix_prob, o.erase_prob, teacher, o.distill_weight,
                      o.distill_temperature, device_type)


def supervised_flops(cfg: FinetuneConfig, model: nn.Module, objective: Objective) -> StepFlops:
    """FLOPs of one clip's step: the classifier on every token, and what the objective adds (a
    distillation teacher's forward)."""
    vit = model.cfg
    shape = StepShape(vit, vit.tokens, vit.tokens, classes=model.num_classes, **objective.step_facts())
    return StepFlops(family_of(model).flops(shape)) + cfg.supervised.flops(shape)


def finetune(cfg: FinetuneConfig, progress: bool = True) -> dict:
    return run_stage(FinetuneStage(cfg), progress)
