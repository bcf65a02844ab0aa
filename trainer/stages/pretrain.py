"""Stage 1: pretraining on unlabeled shards with MAE (dual masking), UMT (alignment to a frozen
image teacher), or a weighted sum of both. What is decided here: the model (with a pixel decoder
only when an objective rebuilds pixels), the objective, and the masks the loader makes."""

from __future__ import annotations

from functools import cached_property

from torch import nn
from torch.utils.data import DataLoader

from trainer import checkpoint
from trainer.config import PretrainConfig
from trainer.data.masking import MaskSpec
from trainer.data.stream import StreamState, make_loader
from trainer.distributed import Dist
from trainer.measure.flops import StepFlops, StepShape, visible_tokens
from trainer.models.families import family_of
from trainer.models.registry import create_model
from trainer.objectives.base import Objective
from trainer.objectives.pretraining import pretrain_objective
from trainer.stages.base import Stage, Trainee
from trainer.stages.loop import run_stage
from trainer.stages.optim import param_groups


class PretrainStage(Stage):
    title = "pretrain"

    def __init__(self, cfg: PretrainConfig):
        super().__init__(cfg)

    def build_model(self) -> nn.Module:
        cfg = self.cfg
        decoder = self.init_decoder() if cfg.decoder else {"decoder_depth": 0}
        return create_model(cfg.model, **cfg.data.model_args(), drop_path=cfg.drop_path,
                            grad_checkpointing=cfg.grad_checkpointing, **decoder)

    @cached_property
    def init_checkpoint(self) -> checkpoint.Checkpoint | None:
        """The --init checkpoint, read once (mapped, not loaded) for both its shape and its weights."""
        return checkpoint.read(self.cfg.init, lazy=True) if self.cfg.init else None

    def init_decoder(self) -> dict:
        """The decoder's shape of the --init checkpoint, when it has one: its decoder goes on
        training (a released or transformers file may have another than the registered size's)."""
        ckpt = self.init_checkpoint
        if ckpt is None or not ckpt.has_decoder:
            return {}
        args = ckpt.vit_args(self.cfg.model)
        return {k: args[k] for k in ("decoder_dim", "decoder_depth", "decoder_heads")}

    def initialize(self, model: nn.Module) -> str:
        ckpt = self.init_checkpoint
        if ckpt is None:
            return super().initialize(model)
        return f"{checkpoint.load_weights(model, ckpt)} from a pretraining checkpoint ({ckpt.path})"

    def build_objective(self, model: nn.Module, env: Dist) -> Objective:
        return pretrain_objective(self.cfg, model, env.device)

    def param_groups(self, trainee: Trainee) -> list[dict]:
        return param_groups(list(trainee.named_parameters()), 0, self.cfg.weight_decay)

    def loader(self, urls: list[str], env: Dist, stream: StreamState) -> DataLoader:
        cfg = self.cfg
        return make_loader(urls, cfg.data, cfg.batch_size, mask_spec(cfg), env.rank, env.world, stream)

    def describe(self, urls: list[str], clips: int | None) -> str:
        return f"{super().describe(urls, clips)}; objective {self.cfg.objective}, {self.cfg.mask_type} mask"

    def flops_per_clip(self, trainee: Trainee, world: int = 1) -> float | None:
        return pretrain_flops(self.cfg, trainee.model, trainee.objective).per_sample


def mask_spec(cfg: PretrainConfig) -> MaskSpec:
    """The masks the loader draws for a stage-1 run (the decoder's only where the model has one)."""
    return MaskSpec(cfg.mask_type, cfg.encoder_mask, cfg.mae.decoder_mask if cfg.decoder else None)


def pretrain_flops(cfg: PretrainConfig, model: nn.Module, objective: Objective) -> StepFlops:
    """FLOPs of one clip's step of this stage-1 run: its model's forward on the visible tokens
    (every mask type hides int(ratio·H·W) tokens of each time slice), once for all parts, and
    what each part adds (its options' count)."""
    vit = model.cfg
    facts = {k: v for part in objective.parts.values() for k, v in part.step_facts().items()}
    shape = StepShape(vit, visible_tokens(vit, cfg.encoder_mask), vit.tokens, cfg.mask_type,
                      teacher_frames=vit.frames, **facts)
    total = StepFlops(family_of(model).flops(shape))
    for name in objective.parts:
        total += getattr(cfg, name).flops(shape)
    return total


def pretrain(cfg: PretrainConfig, progress: bool = True) -> dict:
    return run_stage(PretrainStage(cfg), progress)
