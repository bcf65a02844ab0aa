"""The training configuration a `vmae bench` run measures: the stage config a training run with
the same options has (the objective's presets included), so that the bench reads the data and
builds the model, objective and masks that run would."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

OBJECTIVES = ("mae", "umt", "mae+umt", "supervised", "vl")
PRECISIONS = ("bf16", "fp16", "fp32")
CLASSES = 710  # the supervised head's width when the corpus says none: K710's classes
STRIDE = 4  # frames apart, unless --stride says otherwise


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
    grad_checkpointing: bool = False
    fsdp: bool = False  # FSDP2 over the ranks of torchrun (one process has nothing to shard)
    compile: bool = False  # torch.compile the step's model and objective, as training's --compile
    profile: str | None = None  # a folder: a torch.profiler trace of a few more steps, and the top ops
    max_workers: int | None = None  # the CPU count when None
    plan_for: str | None = None  # a GPU (h100, …) or its peak in TFLOP/s: the cores it needs fed, from here
    mfu: float = 0.45  # the utilization that plan aims at
    # any other setting of the stage's config, by name as the train commands take it (frames,
    # mask_type, decoder_mask, teacher, …); the stage's presets apply under them
    settings: dict = field(default_factory=dict)
    config: str | None = None  # a YAML file of such settings, as the train commands' --config

    def stage_config(self):
        """The config of the stage that trains this objective (trainer/stages/specs.py): stage 1
        (mae, umt, mae+umt), fine-tuning (supervised) or the video-language stage (vl), as a run
        with the same settings would have it."""
        from manifests.options import merge, read_settings_file, sections
        from trainer.settings import configure
        from trainer.stages.specs import stage_for

        spec = stage_for(self.objective)
        doc = {"model": self.model, "steps": 1, "out": "unused", "shards": list(self.shards) or ["unused"],
               "batch_size": self.batch_size, "precision": self.precision, "fsdp": self.fsdp, "compile": self.compile,
               "grad_checkpointing": self.grad_checkpointing, "data": {"stride": STRIDE}, **spec.fixed}
        if self.plan_for:  # a plan is for a GPU, where views are resized on it (unless the settings say otherwise)
            doc["data"]["resize_on"] = "device"
        if "objective" in {f.name for f in dataclasses.fields(spec.config)}:
            doc["objective"] = self.objective
        if "umt" in sections(spec.config):  # a teacher of random weights: it costs what a real one does
            doc["teacher_weights"] = "random"
        return configure(spec.config, dict(self.settings), merge(read_settings_file(self.config), doc))
