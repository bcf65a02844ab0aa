"""Model families as registered specs (torchtitan's ModelSpec and StateDictAdapter): each says how to
build its model from a ViTConfig, where its video trunk's weights are, which of its weights may
start new and under what name a person knows them, how a released file of it is recognized, how
transformers names it, which modules FSDP shards one by one, and what its forward costs. Code
elsewhere asks the spec and never branches on a family's name: a new family is a file with its model
and a line in FAMILIES.

A checkpoint record names its family in `kind` (the field's name since the first version).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

from trainer.measure.flops import StepShape, encoder_flops
from trainer.models import text
from trainer.models.classifier import VideoClassifier
from trainer.models.layers import Block
from trainer.models.pretrain import PretrainViT
from trainer.models.sizes import ModelError, ViTConfig
from trainer.models.video_language import VideoLanguageModel

# Keys of a released UMT pretraining file that belong to its alignment heads, not to the encoder: like
# our own heads (kept with the objective), they never load into a model's trunk.
ALIGNMENT_KEYS = ("encoder.clip_decoder.", "encoder.clip_pos_embed")


def trunk_flops(shape: StepShape) -> float:
    """The video trunk: every token embedded, the blocks on those the encoder sees. The pixel
    decoder is the mae objective's to count (only it runs it)."""
    return encoder_flops(shape.vit, shape.visible, shape.embedded)


def classifier_flops(shape: StepShape) -> float:
    """The trunk on every token and the linear head on the pooled token."""
    return trunk_flops(shape) + 2.0 * shape.vit.dim * shape.classes


@dataclass(frozen=True)
class Family:
    name: str
    model: type[nn.Module]
    make: Callable[..., nn.Module]  # (ViTConfig, num_classes, head_dropout, **family_args) -> the model
    trunk: str  # prefix of the video trunk's weights in this family's state dicts
    trunk_lacks: tuple[str, ...] = ()  # trunk weights (without prefix) this family does not have
    # what a person calls each group of weights, by prefix (the longest match wins); groups outside
    # the trunk may start new when the checkpoint lacks them, and are reported as new
    parts: dict[str, str] = field(default_factory=dict)
    infixes: dict[str, str] = field(default_factory=dict)  # groups named by a part of the key, checked first
    fresh: tuple[str, ...] = ()  # the parts that may start new
    starts_from: tuple[str, ...] = ()  # other families whose trunk this one starts from (--init)
    head: str | None = None  # the classification head's weight: its rows are the classes
    decoder: bool = False  # may hold VideoMAE's pixel decoder (its shape is inferred from released files)
    shard_units: tuple[type[nn.Module], ...] = (Block,)  # FSDP: each such module is one unit
    recognize: Callable[[dict], bool] = lambda state: False  # a released (unlabelled) file of this family
    # transformers: the architecture of a model with and without a pixel decoder, and whether it pools
    # (use_mean_pooling + fc_norm); None: the family has no transformers form
    hf_architectures: tuple[str, str] | None = None
    hf_pooled: bool = False
    # "module:function" that writes the family's transformers form when it is several models
    hf_export: str | None = None
    # what the family's own build arguments (family_args in a record) may state, checked before building
    check_args: Callable[[dict], None] = lambda args: None
    # forward FLOPs of its model on one sample (torch-free; an objective's own work is its options')
    flops: Callable[[StepShape], float] = trunk_flops

    def build(self, cfg: ViTConfig, num_classes: int = 0, head_dropout: float = 0.0,
              family_args: dict | None = None) -> nn.Module:
        self.check_args(family_args or {})
        return self.make(cfg, num_classes, head_dropout, **(family_args or {}))

    @staticmethod
    def args_of(model: nn.Module) -> dict:
        """A built model's own build arguments besides its ViTConfig (a text tower's, …)."""
        return model.family_args() if hasattr(model, "family_args") else {}

    def classes(self, state: dict) -> int:
        return int(state[self.head].shape[0]) if self.head and self.head in state else 0

    def part(self, key: str) -> str:
        """The group a weight belongs to ("other" for a name the family does not have)."""
        infix = next((name for mark, name in self.infixes.items() if mark in key), None)
        if infix is not None:
            return infix
        prefix = max((p for p in self.parts if key.startswith(p)), key=len, default=None)
        return self.parts[prefix] if prefix is not None else "other"

    def trunk_of(self, state: dict) -> dict:
        """The video trunk's weights of a state dict of this family, without its prefix."""
        return {k[len(self.trunk):]: v for k, v in state.items()
                if k.startswith(self.trunk) and not k.startswith(ALIGNMENT_KEYS) and self.part(k) == "encoder"}

    def with_trunk(self, trunk: dict) -> dict:
        """Trunk weights (no prefix) under this family's names, without those it lacks."""
        return {self.trunk + k: v for k, v in trunk.items() if not k.startswith(self.trunk_lacks)}

    def hf_architecture(self, has_decoder: bool) -> str:
        assert self.hf_architectures is not None
        return self.hf_architectures[0 if has_decoder else 1]


def _encoder_started(state: dict) -> bool:
    return any(k.startswith("encoder.") for k in state)


def _classifier_weights(state: dict) -> bool:
    return "head.weight" in state and any(k.startswith("blocks.") for k in state)


PRETRAIN = Family(
    "pretrain", PretrainViT, lambda cfg, classes, dropout: PretrainViT(cfg), trunk="encoder.",
    parts={"encoder.": "encoder", "decoder.": "decoder", "encoder_to_decoder.": "decoder", "mask_token": "decoder"},
    fresh=("decoder",), decoder=True, recognize=_encoder_started,
    hf_architectures=("VideoMAEForPreTraining", "VideoMAEModel"))

CLASSIFIER = Family(
    "classifier", VideoClassifier, lambda cfg, classes, dropout: VideoClassifier(cfg, classes, dropout), trunk="",
    trunk_lacks=("norm.",),  # it pools the blocks' output and norms it with fc_norm instead
    parts={"": "encoder", "fc_norm.": "head", "head.": "head"}, fresh=("head",), starts_from=("pretrain", "vl"),
    head="head.weight", recognize=_classifier_weights, flops=classifier_flops,
    hf_architectures=("VideoMAEForVideoClassification", "VideoMAEForVideoClassification"), hf_pooled=True)

VIDEO_LANGUAGE = Family(
    "vl", VideoLanguageModel,
    lambda cfg, classes, dropout, text_args, embed_dim, vocab: VideoLanguageModel(
        cfg, text.TextConfig(**text_args), embed_dim, tuple(vocab)),
    trunk="encoder.",
    parts={"encoder.": "encoder", "text.": "text tower", "text_mlm.": "MLM head", "vision_norm.": "heads",
           "vision_proj.": "heads", "text_proj.": "heads", "temp": "heads", "itm_head.": "heads"},
    infixes={".crossattention.": "cross-attention"},
    # the text tower comes from a BERT folder (loaded before the stage-1 student); what BERT lacks starts new
    fresh=("heads", "cross-attention", "MLM head"), starts_from=("pretrain",),
    shard_units=(Block, text.Layer), check_args=text.check_family_args,
    hf_export="trainer.checkpoint.export_vl:export_video_language")

# in the order a released file is recognized in
FAMILIES: dict[str, Family] = {f.name: f for f in (PRETRAIN, CLASSIFIER, VIDEO_LANGUAGE)}


def family(name: str) -> Family:
    if name not in FAMILIES:
        raise ModelError(f"unknown model family {name!r}; vmae builds {', '.join(FAMILIES)}")
    return FAMILIES[name]


def family_of(model: nn.Module) -> Family:
    """The family of a built model (its most specific class first)."""
    found = [f for f in FAMILIES.values() if isinstance(model, f.model)]
    if not found:
        raise TypeError(f"{type(model).__name__} is not a model of a registered family")
    return max(found, key=lambda f: len(f.model.__mro__))


def recognize(state: dict) -> Family | None:
    """The family of a released file's weights, which do not name it."""
    return next((f for f in FAMILIES.values() if f.recognize(state)), None)
