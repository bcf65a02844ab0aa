"""Reading any checkpoint a run can start from, be evaluated from or rebuilt from: ours (any
stage, sharded or not, or exported as .safetensors), a transformers VideoMAE folder, or a released
VideoMAE V2 / UMT file, as one Checkpoint: the weights in released names, the model family, and
what is known of the model's shape and the clips it saw."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from trainer.checkpoint import hf
from trainer.checkpoint.files import CARD, FORMAT, load_file, parse_card, unwrap_state_dict
from trainer.checkpoint.folders import resolve
from trainer.checkpoint.stated import check_stated
from trainer.data.config import GEOMETRY_FIELDS
from trainer.errors import CheckpointError
from trainer.models.families import Family, family, recognize
from trainer.models.registry import model_config, size_of
from trainer.models.sizes import ModelError

# the ViTConfig arguments that are the clips' geometry (the rest is the size's)
_MODEL_GEOMETRY = ("frames", "img_size", "patch", "tubelet")


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    state: dict  # model weights, released names, without fixed position tables
    kind: str  # the model family's name (trainer/models/families.py)
    config: dict  # our run's resolved config; {} for released files
    labels: list[str] | None  # class names of a classifier's head, when known
    model_name: str | None  # registered size; inferred from the weights for released files
    model_args: dict | None  # ViTConfig arguments; None for released files
    family_args: dict = dataclasses.field(default_factory=dict)  # the family's own (a text tower's)
    objective: dict = dataclasses.field(default_factory=dict)  # a run's objective state (UMT's alignment heads)

    @property
    def family(self) -> Family:
        return family(self.kind)

    @property
    def classes(self) -> int:
        return self.family.classes(self.state)

    def geometry(self) -> dict:
        """What is known of the clips it was trained on: the run's data geometry, or the patch and
        tubelet that a released file's patch embedding fixes."""
        args = self.model_args or {}
        saved = {k: args[k] for k in _MODEL_GEOMETRY if k in args}
        saved |= {k: v for k, v in self.config.get("data", {}).items() if k in GEOMETRY_FIELDS}
        weight = self.state.get(f"{self.family.trunk}patch_embed.proj.weight")
        if weight is not None and weight.ndim == 5:  # (D, C, tubelet, p, p)
            saved |= {"tubelet": int(weight.shape[2]), "patch": int(weight.shape[3])}
        return saved

    @property
    def has_decoder(self) -> bool:
        return _has_decoder(self.state)

    def trunk_args(self, model: str | None = None) -> dict:
        """ViTConfig arguments as saved, or for a released file those of its registered size
        (`model`, or inferred) with the clip geometry its weights fix; the decoder's are the size's."""
        if self.model_args is not None:
            return dict(self.model_args)
        name = model or self.model_name
        if not name:
            raise CheckpointError(f"{self.path} does not say which model it is and its shape matches no registered "
                                  "size: give --model")
        geometry = {k: v for k, v in self.geometry().items() if k in _MODEL_GEOMETRY}
        return dataclasses.asdict(model_config(name, **geometry))

    def vit_args(self, model: str | None = None) -> dict:
        """The ViTConfig arguments of the whole model these weights fit: trunk_args, and for a
        released pretraining file the decoder its weights have (none, or the size's width)."""
        args = self.trunk_args(model)
        if self.model_args is not None or not self.family.decoder:
            return args
        if not self.has_decoder:
            return args | {"decoder_depth": 0}
        width = self.state["encoder_to_decoder.weight"].shape[0]
        if width != args["decoder_dim"]:
            raise CheckpointError(f"{self.path} has a {width}-wide decoder; {model or self.model_name}'s is "
                                  f"{args['decoder_dim']} wide and vmae cannot tell its number of heads")
        return args | {"decoder_depth": len({k.split(".")[2] for k in self.state if k.startswith("decoder.blocks.")})}


def _has_decoder(state: dict) -> bool:
    """A pretraining model's pixel decoder (a classifier never has one)."""
    return "decoder.head.weight" in state


def read(path: str | Path, lazy: bool = False) -> Checkpoint:
    """Any checkpoint we can start from: ours (any stage, or exported as .safetensors), a
    transformers VideoMAE folder (or its weights file), or a released VideoMAE V2 / UMT file."""
    path = resolve(path)
    if hf.is_folder(path) or (path.is_file() and path.name in hf.WEIGHTS and hf.is_folder(path.parent)):
        return _read_transformers(path if path.is_dir() else path.parent, lazy)
    raw = load_file(path, lazy)
    ours = raw.get("format") == FORMAT
    state = raw["model"] if ours else unwrap_state_dict(raw)
    if not ours and hf.is_hf_state(state):  # transformers' names without their config.json
        state = hf.from_transformers(state)[1]
    # a fixed sin-cos table is rebuilt for the run's frames and size, never loaded
    state = {k: v for k, v in state.items() if k not in ("pos_embed", "encoder.pos_embed")}
    found = _family_of_record(raw, path) if ours else recognize(state)
    if found is None:
        raise CheckpointError(f"{path} is neither a VideoMAE pretraining checkpoint (encoder.*) nor a classifier "
                              f"(blocks.*, head.*); its first keys: {sorted(state)[:5]}")
    kind = found.name
    name = raw.get("model_name") if ours else _infer_size(state, found)
    config = raw.get("config") or {}
    args = raw.get("model_args") if ours else None
    family_args, objective = (raw.get("family_args") or {}, raw.get("objective") or {}) if ours else ({}, {})
    if args is not None:
        check_stated(path, kind, args, state, family_args)
    return Checkpoint(path, state, kind, config, raw.get("labels"), name, args, family_args, objective)


def _family_of_record(raw: dict, path: Path) -> Family:
    try:
        return family(str(raw.get("kind")))
    except ModelError as e:
        raise CheckpointError(f"{path}: {e}") from e


def _read_transformers(folder: Path, lazy: bool) -> Checkpoint:
    """A folder that transformers' save_pretrained (or `vmae export`) wrote for a VideoMAE model."""
    config = hf.read_config(folder)
    state = {}
    for file in hf.weight_files(folder):
        state |= unwrap_state_dict(load_file(file, lazy))
    kind, state = hf.from_transformers(state)
    if family(kind).hf_pooled and not config.get("use_mean_pooling", True):
        raise CheckpointError(f"{folder} classifies from its first token (use_mean_pooling false); vmae's classifier "
                              "pools the mean of all tokens, so this model cannot be rebuilt")
    try:
        args = hf.vit_args(config) | ({} if _has_decoder(state) else {"decoder_depth": 0})
    except CheckpointError as e:
        raise CheckpointError(f"{folder}: {e}") from e
    check_stated(folder, kind, args, state)
    card = parse_card((folder / CARD).read_text(), folder) if (folder / CARD).is_file() else None
    card = card or {}  # what vmae wrote beside transformers' files: the size's name, stride, sampling
    name = card.get("model_name") or size_of(args["dim"], args["depth"], args["patch"])
    return Checkpoint(folder, state, kind, {"data": card.get("data") or {}}, hf.labels_of(config), name, args)


def _infer_size(state: dict, found: Family) -> str | None:
    blocks = f"{found.trunk}blocks."
    weight = state.get(f"{found.trunk}patch_embed.proj.weight")
    depth = len({k[len(blocks):].split(".")[0] for k in state if k.startswith(blocks)})
    return size_of(int(weight.shape[0]), depth, int(weight.shape[-1])) if weight is not None else None
