"""The training configuration a `vmae bench` run measures: the stage config a training run with
the same options has (the objective's presets included), so that the bench reads the data and
builds the model, objective and masks that run would."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

OBJECTIVES = ("mae", "umt", "mae+umt", "supervised", "vl")
PRECISIONS = ("bf16", "fp16", "fp32")
CLASSES = 710  # the supervised head's width when the corpus says none: K710's classes


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
    rounds: int = 3  # decode and loader rounds, in turns
    frames: int | None = None  # the objective's (its presets', else the model size's) when None
    img_size: int | None = None
    stride: int = 4
    grad_checkpointing: bool = False
    fsdp: bool = False  # FSDP2 over the ranks of torchrun (one process has nothing to shard)
    compile: bool = False  # torch.compile the step's model and objective, as training's --compile
    profile: str | None = None  # a folder: a torch.profiler trace of a few more steps, and the top ops
    max_workers: int | None = None  # the CPU count when None
    teacher: str = "vit_base_patch16_clip_224"  # umt's and vl's image teacher (random weights: the same cost)
    align_layers: int = 6

    def stage_config(self):
        """The config of the stage that trains this objective (trainer/stages/specs.py): stage 1
        (mae, umt, mae+umt), fine-tuning (supervised) or the video-language stage (vl)."""
        from manifests.options import sections
        from trainer.settings import configure
        from trainer.stages.specs import stage_for

        spec = stage_for(self.objective)
        data = {k: v for k, v in (("frames", self.frames), ("img_size", self.img_size)) if v is not None}
        doc = {"model": self.model, "steps": 1, "out": "unused", "shards": list(self.shards) or ["unused"],
               "batch_size": self.batch_size, "precision": self.precision, "fsdp": self.fsdp, "compile": self.compile,
               "grad_checkpointing": self.grad_checkpointing, "data": {**data, "stride": self.stride}, **spec.fixed}
        if "objective" in {f.name for f in dataclasses.fields(spec.config)}:
            doc["objective"] = self.objective
        if "umt" in sections(spec.config):  # a teacher of random weights: it costs what a real one does
            doc |= {"teacher": self.teacher, "teacher_weights": "random", "align_layers": self.align_layers}
        return configure(spec.config, doc)
