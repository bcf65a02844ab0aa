"""The training stages as registered specs (torchtitan's TrainSpec): each names the config class it
runs, the objectives it accepts (their options are sections of that config), its command's option
groups, the function that runs it, and its place in a progressive run. The train commands
(cli/train.py), `vmae train progressive` and `vmae bench` loop over STAGES and never branch on a
stage's name; a new stage is a file with its Stage and a line here. Torch-free: the CLI builds its
commands from these without loading the trainer (`run` is imported when a stage runs)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from trainer.config import FinetuneConfig, PretrainConfig, TrainConfig, VLConfig
from trainer.objectives.options import PRETRAIN, SUPERVISED, VIDEO_LANGUAGE, ObjectiveOptions, part_names


@dataclass(frozen=True)
class StageSpec:
    name: str
    summary: str  # its command's help
    config: type[TrainConfig]
    objectives: dict[str, type[ObjectiveOptions]]  # those it may train with; each a section of `config`
    groups: tuple[str, ...]  # its command's option groups, in order (cli/train_options.py GROUPS)
    run: str  # "module:function": function(cfg, progress=...) -> the run's summary
    fixed: dict = field(default_factory=dict)  # settings the stage gives itself (which supervised stage)
    chain: bool = True  # in a progressive run, the stages after it start from its checkpoint
    best: tuple[str, str] | None = None  # (key of result["best"], what it is) for the command's last line

    def runner(self) -> Callable[..., dict]:
        module, _, function = self.run.partition(":")
        return getattr(importlib.import_module(module), function)

    def trains(self, objective: str) -> bool:
        """Whether `objective` (a name, or stage 1's sum like mae+umt) is this stage's to train."""
        if self.objectives is PRETRAIN:
            try:
                part_names(objective)
            except ValueError:
                return False
            return True
        return objective in self.objectives and objective not in PRETRAIN


_SUPERVISED = dict(config=FinetuneConfig, objectives=SUPERVISED, run="trainer.stages.finetune:finetune",
                   groups=("shared", "supervised_stage", "augment", "validation", "objectives", "data"),
                   best=("top1", "validation top-1"))

# in the order of a progressive run
STAGES: dict[str, StageSpec] = {s.name: s for s in (
    StageSpec("pretrain", """Stage 1: pretrain a video ViT on corpus shards, with dual masking (VideoMAE V2, the
default) or aligned to an image teacher (UMT); from scratch, or on from a pretraining checkpoint (--init). Rerun the
same command to resume from the newest checkpoint in --out.""", PretrainConfig, PRETRAIN,
              ("shared", "pretraining", "masks", "objectives", "data"), "trainer.stages.pretrain:pretrain"),
    StageSpec("vlpretrain", """UMT stage 2: video-language pretraining from a stage-1 student (--init, UMT or MAE) and
a local BERT folder (--text-weights) on captioned video and image corpora: UMA, VTC, VTM and MLM. With --retrieval,
retrieval fine-tuning (VTC and VTM). Rerun the same command to resume.""", VLConfig, VIDEO_LANGUAGE,
              ("shared", "video_language_stage", "augment", "validation", "masks", "objectives", "data"),
              "trainer.stages.vlpretrain:vlpretrain", chain=False, best=("mean", "validation retrieval mean")),
    StageSpec("postpretrain", """Stage 2: supervised post-pretraining on the labeled hybrid (K710), from a stage-1
checkpoint (--init), MAE or UMT. Rerun the same command to resume.""", fixed={"stage": "postpretrain"},
              **_SUPERVISED),
    StageSpec("finetune", """Stage 3: fine-tune on the target corpus from a stage-1 or stage-2 checkpoint or a
released file (--init); a K710 head is sliced to the target's classes by name or --label-map. Rerun the same command
to resume.""", fixed={"stage": "finetune"}, **_SUPERVISED),
)}


def stage_for(objective: str) -> StageSpec:
    """The first stage that trains `objective` (what `vmae bench --objective` measures)."""
    found = next((s for s in STAGES.values() if s.trains(objective)), None)
    if found is None:
        known = sorted({n for s in STAGES.values() for n in s.objectives})
        raise ValueError(f"no stage trains objective {objective!r}; known: {', '.join(known)} (or a sum like mae+umt)")
    return found
