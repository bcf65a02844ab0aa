"""UMT's second stage: video-language pretraining from a stage-1 student (--init: UMT or MAE, any
stage-1 format vmae reads) and a local BERT folder (--text-weights), on captioned video corpora
(--shards) and captioned image corpora (--image-shards). What is decided here: the model (the
student's encoder, the text tower, new heads), where each part's weights come from (the student's
alignment heads go on into UMA when it has them), the step schedule of videos and images that
every rank agrees on, and validation by retrieval, which keeps the best checkpoint. With
--retrieval it is retrieval fine-tuning: VTC and VTM only, no mask, no teacher."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from pathlib import Path

import numpy as np
from torch import nn

from trainer import checkpoint, parallel
from trainer.checkpoint.bert import BertFolder, load_bert, read_bert
from trainer.config import VLConfig
from trainer.data.captioned import CaptionedStream
from trainer.data.captions import Tokenizer
from trainer.data.shards import resolve_shards
from trainer.data.stream import StreamState, loader_for
from trainer.distributed import Dist
from trainer.errors import CheckpointError, ConfigError
from trainer.eval import retrieval
from trainer.measure.flops import StepFlops, StepShape, visible_tokens
from trainer.models.families import VIDEO_LANGUAGE, family_of
from trainer.models.registry import model_config
from trainer.models.text import TextConfig
from trainer.models.video_language import VideoLanguageModel
from trainer.objectives.base import Objective
from trainer.objectives.vl import VideoLanguage
from trainer.stages.base import Stage, Trainee
from trainer.stages.loop import run_stage
from trainer.stages.optim import param_groups

IMAGE_WORKERS = 1000  # image streams' logical workers are numbered from here (their positions apart)


def schedule(seed: int, batch: int, video_share: float) -> bool:
    """Whether batch number `batch` is a video batch: the same answer on every rank and every run."""
    return bool(np.random.default_rng([seed, 11, batch]).random() < video_share)


def video_share(videos: bool, images: bool, video_clips: int | None, clips: int | None) -> float:
    """The share of steps that are video steps: the videos' share of the samples (half and half
    when URL patterns leave the counts unknown); all of them, or none, with one kind only."""
    if not images or not videos:
        return 1.0 if videos else 0.0
    return video_clips / clips if clips else 0.5


class Alternating:
    """Batches of the video and image loaders in the schedule's order."""

    def __init__(self, videos: Iterator | None, images: Iterator | None, seed: int, share: float, start: int):
        self.videos, self.images, self.seed, self.share, self.batch = videos, images, seed, share, start

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        video = schedule(self.seed, self.batch, self.share)
        self.batch += 1
        return next(self.videos if video else self.images)


class VLPretrainStage(Stage):
    title = "vlpretrain"

    def __init__(self, cfg: VLConfig):
        super().__init__(cfg)
        self.video_urls, video_clips = resolve_shards(list(cfg.shards)) if cfg.shards else ([], 0)
        self.image_urls, image_clips = resolve_shards(list(cfg.image_shards)) if cfg.image_shards else ([], 0)
        known = video_clips is not None and image_clips is not None
        self.clips = video_clips + image_clips if known else None
        self.video_share = video_share(bool(self.video_urls), bool(self.image_urls), video_clips, self.clips)
        self.val_urls = resolve_shards(list(cfg.val_shards))[0] if cfg.val_shards else None
        self.best: dict | None = None

    def shards(self) -> tuple[list[str], int | None]:
        return self.video_urls + self.image_urls, self.clips

    @cached_property
    def init_checkpoint(self) -> checkpoint.Checkpoint | None:
        return checkpoint.read(self.cfg.init, lazy=True) if self.cfg.init else None

    @cached_property
    def bert(self) -> BertFolder | None:
        """The BERT folder of a new text tower (none when going on from a video-language checkpoint)."""
        ckpt, options = self.init_checkpoint, self.cfg.vl
        if ckpt is not None and ckpt.family is VIDEO_LANGUAGE:
            return None
        if not options.text_weights:
            raise ConfigError("the text tower starts from a BERT folder: --text-weights FOLDER (config.json, weights, "
                              "vocab.txt, as transformers' save_pretrained writes them; nothing is downloaded)")
        return read_bert(options.text_weights, options.fusion_layers, video_config(self.cfg).dim)

    def text_config(self) -> TextConfig:
        if self.bert is not None:
            text = self.bert.config
        else:
            text = TextConfig(**self.init_checkpoint.family_args["text_args"])
        return TextConfig(**{**text.__dict__, "grad_checkpointing": self.cfg.grad_checkpointing})

    def vocab(self) -> list[str]:
        return self.bert.vocab if self.bert is not None else self.init_checkpoint.family_args["vocab"]

    def tokenizer(self) -> Tokenizer:
        return Tokenizer(self.vocab(), self.cfg.vl.max_tokens)

    def build_model(self) -> nn.Module:
        ckpt = self.init_checkpoint
        embed_dim = ckpt.family_args["embed_dim"] if ckpt is not None and ckpt.family is VIDEO_LANGUAGE \
            else self.cfg.vl.embed_dim
        return VideoLanguageModel(video_config(self.cfg), self.text_config(), embed_dim, tuple(self.vocab()))

    def initialize(self, model: nn.Module) -> str:
        ckpt = self.init_checkpoint
        loaded = load_bert(model, self.bert) if self.bert is not None else set()
        text = f"text tower from {self.bert.path}; " if self.bert is not None else ""
        if ckpt is None:
            return f"{text}new video tower (random weights); new heads"
        return f"{text}{checkpoint.load_weights(model, ckpt, loaded=loaded)} from {ckpt.path}"

    def build_objective(self, model: nn.Module, env: Dist) -> Objective:
        objective = VideoLanguage.build(self.cfg, model, env.device)
        ckpt = self.init_checkpoint
        heads = {k.removeprefix("parts.umt."): v for k, v in (ckpt.objective if ckpt else {}).items()
                 if k.startswith("parts.umt.heads.")}
        if objective.uma is not None and heads:  # the student's alignment heads go on aligning
            try:
                objective.uma.load_state_dict(heads, strict=False)
            except RuntimeError as e:
                raise CheckpointError(f"{ckpt.path}'s alignment heads do not fit this run's teacher and "
                                      f"--align-layers ({str(e).splitlines()[-1].strip()})") from e
        for name, p in model.named_parameters():  # what no chosen loss reads trains nowhere (and DDP needs that said)
            if objective.unused(model, name):
                p.requires_grad_(False)
        return objective

    def param_groups(self, trainee: Trainee) -> list[dict]:
        return param_groups(list(trainee.named_parameters()), 0, self.cfg.weight_decay)

    def loader(self, urls: list[str], env: Dist, stream: StreamState) -> Iterator[dict]:
        cfg, tokenizer = self.cfg, self.tokenizer()
        done_videos = sum(schedule(cfg.data.seed, b, self.video_share) for b in range(stream.batches))

        def make(kind_urls: list[str], offset: int, done: int):
            if not kind_urls:
                return None
            mine = StreamState(done, {w - offset: p for w, p in stream.positions.items()
                                      if offset <= w < offset + IMAGE_WORKERS})
            data = CaptionedStream(kind_urls, cfg.data, tokenizer, env.rank, env.world, mine, offset, cfg.flip)
            return iter(loader_for(data, cfg.batch_size))

        return Alternating(make(self.video_urls, 0, done_videos),
                           make(self.image_urls, IMAGE_WORKERS, stream.batches - done_videos),
                           cfg.data.seed, self.video_share, stream.batches)

    def describe(self, urls: list[str], clips: int | None) -> str:
        kinds = f"{len(self.video_urls)} video and {len(self.image_urls)} image shards"
        losses = ", ".join(f"{k} {w:g}" for k, w in self.cfg.vl.weights().items() if w)
        return (f"vmae {self.title} {self.cfg.model}: {kinds}, {clips if clips is not None else '?'} samples "
                f"({self.video_share:.0%} of steps videos); losses {losses}")

    def flops_per_clip(self, trainee: Trainee, world: int = 1) -> float | None:
        """Per sample over the run: video and image steps in the schedule's proportion."""
        video, image = (vl_flops(self.cfg, trainee.model, trainee.objective, world, image=i) for i in (False, True))
        return self.video_share * video.per_sample + (1 - self.video_share) * image.per_sample

    def after_step(self, step: int, trainee: Trainee, env: Dist, last: bool) -> dict:
        cfg = self.cfg
        if not self.val_urls or not (last or (cfg.val_every and step % cfg.val_every == 0)):
            return {}
        model = trainee.model
        with parallel.gathered(trainee):
            emb = retrieval.embed(model, self.val_urls, cfg.data, self.tokenizer(), cfg.batch_size)
            scored = retrieval.evaluate(model, emb, cfg.vl.rerank)
        model.train()
        judged = scored.get("reranked", scored["contrastive"])
        if self.best is None or judged["mean"] > self.best["mean"]:  # the same on every rank: each scores all
            self.best = {"step": step, "mean": judged["mean"]}
            state = parallel.full_state(model)
            if env.main:
                checkpoint.save_best(Path(cfg.out), model, cfg, state, step=step, retrieval=scored)
        return {f"val_{how}_{k}": v for how, figures in scored.items() for k, v in figures.items()}

    def extra_state(self) -> dict:
        return {"best": self.best}

    def load_extra_state(self, state: dict) -> None:
        self.best = state.get("best")

    def result(self) -> dict:
        return {"best": self.best}


def video_config(cfg: VLConfig):
    """The video tower of a run of `cfg`: the student's encoder, without a pixel decoder."""
    return model_config(cfg.model, **cfg.data.model_args(), drop_path=cfg.drop_path,
                        grad_checkpointing=cfg.grad_checkpointing, decoder_depth=0)


def vl_flops(cfg: VLConfig, model: VideoLanguageModel, objective: VideoLanguage, world: int,
             image: bool = False) -> StepFlops:
    """FLOPs of one sample's step of this run: a video, or an image (one tubelet: the frame
    repeated, which the teacher sees `tubelet` times). The video tower on its visible tokens, the
    text side (vl's options' count) and UMA (umt's options' count), when on."""
    vit = model.cfg
    masked = objective.uma is not None and cfg.mask_type == "semantic"
    ratio = (objective.image_mask if image else objective.video_mask) if masked else 0.0
    slices = 1 if image else vit.frames // vit.tubelet
    shape = StepShape(vit, visible_tokens(vit, ratio, slices), (vit.img_size // vit.patch) ** 2 * slices,
                      cfg.mask_type, teacher_frames=vit.tubelet if image else vit.frames, text=model.text_cfg,
                      embed_dim=model.embed_dim, batch=cfg.batch_size, ranks=world, **objective.step_facts())
    total = StepFlops(family_of(model).flops(shape)) + cfg.vl.flops(shape)
    return total + cfg.umt.flops(shape) if objective.uma is not None else total


def vlpretrain(cfg: VLConfig, progress: bool = True) -> dict:
    return run_stage(VLPretrainStage(cfg), progress)
