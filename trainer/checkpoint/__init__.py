"""The checkpoint format, owned here alone (sharded.py holds its FSDP form, hf.py the transformers
layout, export.py the files vmae writes for other tools): file names (ckpt-NNNNNNNN.pt, or a
ckpt-NNNNNNNN/ folder when the run shards its weights; best.pt), what a record holds, writing it
atomically, reading any checkpoint as data only (ours, sharded or not, released VideoMAE V2 and
UMT files, .safetensors, transformers folders), restoring a run, and rebuilding the model a record
describes.

A record of ours is a dict of tensors and plain values: format, version, kind ("pretrain" |
"classifier"), model_name, model_args (the ViTConfig it was built with, so it rebuilds without
being told the size), num_classes, model (state dict, released VideoMAE V2 names), objective (the
objective's trainable parts, e.g. UMT's alignment heads, dropped after pretraining), optimizer,
scaler, step, data (stream position), rng, config (the resolved run config), derived, and what a
stage adds (labels, best, ema, val_top1).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pickle
import random
import re
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from trainer.checkpoint import hf, sharded
from trainer.checkpoint.disk import save_torch
from trainer.checkpoint.stated import check_stated
from trainer.data.config import GEOMETRY_FIELDS
from trainer.data.stream import StreamState
from trainer.errors import CheckpointError, TrainingError
from trainer.models import build, model_config, size_of
from trainer.models.classifier import ALIGNMENT_KEYS, VideoClassifier, encoder_state
from trainer.models.pretrain import PretrainViT

FORMAT, VERSION = "vmae-checkpoint", 2
# the card that `vmae export` writes with the weights: in a .safetensors header under HEADER_KEY
# and as NAME.json beside it, or as vmae.json in a transformers folder
CARD_FORMAT, HEADER_KEY, CARD = "vmae-model", "vmae", "vmae.json"
BEST = "best.pt"
# the ViTConfig arguments that are the clips' geometry (the rest is the size's)
_MODEL_GEOMETRY = ("frames", "img_size", "patch", "tubelet")
_NAME = re.compile(r"^ckpt-(\d{8})(\.pt)?$")
# The one type besides tensors and plain values that released VideoMAE V2 / UMT files pickle: the
# argparse Namespace of their training arguments. Nothing else is allowed, and nothing is run.
RELEASED_TYPES = [argparse.Namespace]


def checkpoints(out: Path) -> list[Path]:
    """A run's checkpoints, oldest first: files, and the folders of sharded ones."""
    found = [p for p in Path(out).glob("ckpt-*") if _NAME.match(p.name) and (p.is_file() or sharded.is_sharded(p))]
    return sorted(found, key=lambda p: p.name.removesuffix(".pt"))


def latest(out: Path) -> Path | None:
    found = checkpoints(out)
    return found[-1] if found else None


# ---- reading files as data ---------------------------------------------------------------------

def load_file(path: str | Path, lazy: bool = False) -> dict:
    """A checkpoint file's contents, read with weights_only (tensors and plain values only); a file
    whose pickle asks for anything else is refused, naming the file. `lazy` maps tensors from disk
    instead of reading them (for looking at a record's settings)."""
    path = Path(path)
    if sharded.is_sharded(path):
        return sharded.read_record(path, load_file)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if path.suffix == ".safetensors":
        return _load_safetensors(path)
    try:
        with torch.serialization.safe_globals(RELEASED_TYPES), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*TorchScript archive")  # refused below, with advice
            raw = torch.load(path, map_location="cpu", weights_only=True, mmap=lazy or None)
    except pickle.UnpicklingError as e:
        wanted = re.search(r"GLOBAL (\S+)", str(e))
        if not wanted:
            raise CheckpointError(f"{path} is not a readable torch checkpoint ({str(e).splitlines()[0]})") from e
        raise CheckpointError(
            f"{path} holds more than tensors and plain values (its pickle asks for {wanted.group(1)}). vmae reads "
            "checkpoints as data and never runs what a file holds, so it refuses this one. If the file is yours, "
            "save the model's weights alone from the program that wrote it: torch.save(model.state_dict(), "
            "'weights.pt')") from e
    except RuntimeError as e:
        if "TorchScript" in str(e):
            raise CheckpointError(
                f"{path} is a TorchScript archive (as OpenAI's CLIP files are): it holds code, which vmae does not "
                f"run. Save its weights once on a machine you trust: python -c \"import torch; torch.save(torch.jit."
                f"load('{path.name}', map_location='cpu').state_dict(), 'weights.pt')\"") from e
        if lazy and "mmap" in str(e):  # an old-format file cannot be mapped: read it
            return load_file(path)
        raise CheckpointError(f"{path} is not a readable torch checkpoint ({e})") from e
    except Exception as e:  # noqa: BLE001 - torch raises many kinds for a file that is not a checkpoint
        raise CheckpointError(f"{path} is not a readable torch checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path} holds a {type(raw).__name__}, not a checkpoint dictionary")
    return raw


def _load_safetensors(path: Path) -> dict:
    """A .safetensors file's tensors; with the card of `vmae export --format safetensors` (in its
    header, or beside it), the record it describes."""
    from safetensors import safe_open  # tensors and a str -> str header only, by design

    try:
        with safe_open(str(path), framework="pt") as f:
            tensors, header = {k: f.get_tensor(k) for k in f.keys()}, f.metadata() or {}  # noqa: SIM118
    except Exception as e:  # noqa: BLE001 - the library raises several kinds for a bad file
        raise CheckpointError(f"{path} is not a readable safetensors file ({e})") from e
    card = _card_of(path, header)
    if card is None:
        return tensors
    return {"format": FORMAT, "version": VERSION, **{k: card[k] for k in _CARD_FIELDS},
            "config": {"data": card.get("data") or {}}, "model": tensors}


_CARD_FIELDS = ("kind", "model_name", "model_args", "num_classes", "labels")


def _card_of(path: Path, header: dict) -> dict | None:
    """What `vmae export` says of a weights file: from the file's header, else the JSON beside it."""
    text = header.get(HEADER_KEY)
    beside = path.with_suffix(".json")
    if text is None and beside.is_file():
        text = beside.read_text()
    return None if text is None else _parse_card(text, path)


def _parse_card(text: str, path: Path) -> dict | None:
    """A card's fields, checked; None for a JSON that is not a card of ours."""
    try:
        card = json.loads(text)
    except ValueError as e:
        raise CheckpointError(f"the model card of {path} is not JSON ({e})") from e
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        return None  # a JSON that is not ours: the file is read as weights alone
    missing = [k for k in _CARD_FIELDS if k not in card]
    if missing:
        raise CheckpointError(f"the model card of {path} lacks {missing}; export the checkpoint again")
    return card


def unwrap_state_dict(state: dict) -> dict:
    """A model state dict from our checkpoints or released ones ('model' / 'module' wrappers)."""
    for key in ("model", "module", "state_dict"):
        if key in state and isinstance(state[key], dict):
            state = state[key]
    return {k.removeprefix("module."): v for k, v in state.items()}


# ---- writing a run's records --------------------------------------------------------------------

def model_record(model: torch.nn.Module, name: str, state: dict | None = None) -> dict:
    """What rebuilds and reloads `model`: its kind, size name, ViTConfig arguments and weights
    (`state`, when they are not the module's own: gathered from FSDP shards)."""
    kind = "classifier" if isinstance(model, VideoClassifier) else "pretrain"
    return {"format": FORMAT, "version": VERSION, "kind": kind, "model_name": name,
            "model_args": dataclasses.asdict(model.cfg), "num_classes": getattr(model, "num_classes", 0),
            "model": model.state_dict() if state is None else state}


def _rng_state() -> dict:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"torch": torch.get_rng_state(), "python": random.getstate(),
            "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached": float(cached)}}


def restore_rng(rng: dict) -> None:
    torch.set_rng_state(rng["torch"])
    random.setstate(rng["python"])
    n = rng["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))


def run_record(step: int, trainee, optimizer, scaler, stream: StreamState, cfg, derived, **extra) -> dict:
    """Everything a resume needs, and the resolved config. A sharded run's weights and optimizer
    state are not in it: every rank writes its shards of them (sharded.save)."""
    record = {**model_record(trainee.model, cfg.model, {} if cfg.fsdp else None),
              "scaler": scaler.state_dict() if scaler else None, "step": step,
              "data": {"batches": stream.batches, "positions": stream.positions}, "rng": _rng_state(),
              "config": dataclasses.asdict(cfg), "derived": dataclasses.asdict(derived), **extra}
    if not cfg.fsdp:
        record |= {"objective": trainee.objective.checkpoint_state(), "optimizer": optimizer.state_dict()}
    return record


def save(out: Path, step: int, record: dict, keep: int) -> Path:
    """Write ckpt-{step}.pt under a temporary name, rename it into place, then drop the oldest
    beyond `keep`: a crash at any moment leaves the last good checkpoint intact."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"ckpt-{step:08d}.pt"
    save_torch(record, path)
    prune(out, keep)
    return path


def prune(out: Path, keep: int) -> None:
    """Drop all but the newest `keep` checkpoints, and what a run killed while writing one left."""
    for old in checkpoints(out)[:-keep]:
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    for partial in out.glob(".ckpt-*.tmp"):
        shutil.rmtree(partial) if partial.is_dir() else partial.unlink()


def save_best(out: Path, model: torch.nn.Module, cfg, state: dict | None = None, **extra) -> Path:
    """best.pt: the model record of the best validated model, with the run's config."""
    save_torch({**model_record(model, cfg.model, state), "config": dataclasses.asdict(cfg), **extra}, out / BEST)
    return out / BEST


def restore(path: Path, cfg, trainee, optimizer, scaler) -> tuple[int, StreamState, dict]:
    """Model, objective, optimizer, scaler and data position from a checkpoint of this run (a
    sharded one is resharded to this run's ranks); its RNG state is left to restore_rng, once the
    loader has started (starting it draws from torch's generator)."""
    folder = sharded.is_sharded(path)
    if cfg.fsdp and not folder:
        raise TrainingError(f"{path} was written without --fsdp: resume this run without --fsdp, or start a new "
                            f"--out with --init {path}")
    state = load_file(path / sharded.RECORD) if folder else load_file(path)
    if state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a checkpoint of a vmae run; move it out of {path.parent}")
    if state["model_name"] != cfg.model:
        raise TrainingError(f"{path} is a checkpoint of {state['model_name']}, this run builds {cfg.model}; "
                            "use another --out or the same --model")
    if folder:
        sharded.restore(path, trainee, optimizer, state)
    else:
        trainee.model.load_state_dict(state["model"])
        trainee.objective.load_checkpoint_state(state.get("objective") or {})
        optimizer.load_state_dict(state["optimizer"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    data = StreamState(state["data"]["batches"], {int(k): tuple(v) for k, v in state["data"]["positions"].items()})
    return state["step"], data, state


# ---- reading any checkpoint to start from, evaluate or rebuild ----------------------------------

@dataclass(frozen=True)
class Checkpoint:
    path: Path
    state: dict  # model weights, released names, without fixed position tables
    kind: str  # "pretrain" | "classifier"
    config: dict  # our run's resolved config; {} for released files
    labels: list[str] | None  # class names of a classifier's head, when known
    model_name: str | None  # registered size; inferred from the weights for released files
    model_args: dict | None  # ViTConfig arguments; None for released files

    @property
    def classes(self) -> int:
        return int(self.state["head.weight"].shape[0]) if self.kind == "classifier" else 0

    def geometry(self) -> dict:
        """What is known of the clips it was trained on: the run's data geometry, or the patch and
        tubelet that a released file's patch embedding fixes."""
        args = self.model_args or {}
        saved = {k: args[k] for k in _MODEL_GEOMETRY if k in args}
        saved |= {k: v for k, v in self.config.get("data", {}).items() if k in GEOMETRY_FIELDS}
        prefix = "encoder." if self.kind == "pretrain" else ""
        weight = self.state.get(f"{prefix}patch_embed.proj.weight")
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
        if self.model_args is not None or self.kind != "pretrain":
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


def resolve(path: str | Path) -> Path:
    """A checkpoint file or sharded checkpoint folder, or a run folder's newest checkpoint."""
    path = Path(path)
    if path.is_dir() and not sharded.is_sharded(path) and not hf.is_folder(path):
        found = latest(path)
        if found is None:
            raise CheckpointError(f"{path} holds no checkpoints (ckpt-*.pt, ckpt-*/) and is not a transformers folder "
                                  "(config.json and weights); give a checkpoint file or a finished run")
        return found
    return path


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
    if ours:
        kind = raw["kind"]
    elif any(k.startswith("encoder.") for k in state):
        kind = "pretrain"
    elif "head.weight" in state and any(k.startswith("blocks.") for k in state):
        kind = "classifier"
    else:
        raise CheckpointError(f"{path} is neither a VideoMAE pretraining checkpoint (encoder.*) nor a classifier "
                              f"(blocks.*, head.*); its first keys: {sorted(state)[:5]}")
    name = raw.get("model_name") if ours else _infer_size(state, kind)
    config = raw.get("config") or {}
    args = raw.get("model_args") if ours else None
    if args is not None:
        check_stated(path, kind, args, state)
    return Checkpoint(path, state, kind, config, raw.get("labels"), name, args)


def _read_transformers(folder: Path, lazy: bool) -> Checkpoint:
    """A folder that transformers' save_pretrained (or `vmae export`) wrote for a VideoMAE model."""
    config = hf.read_config(folder)
    state = {}
    for file in hf.weight_files(folder):
        state |= unwrap_state_dict(load_file(file, lazy))
    kind, state = hf.from_transformers(state)
    if kind == "classifier" and not config.get("use_mean_pooling", True):
        raise CheckpointError(f"{folder} classifies from its first token (use_mean_pooling false); vmae's classifier "
                              "pools the mean of all tokens, so this model cannot be rebuilt")
    try:
        args = hf.vit_args(config) | ({} if _has_decoder(state) else {"decoder_depth": 0})
    except CheckpointError as e:
        raise CheckpointError(f"{folder}: {e}") from e
    check_stated(folder, kind, args, state)
    card = _parse_card((folder / CARD).read_text(), folder) if (folder / CARD).is_file() else None
    card = card or {}  # what vmae wrote beside transformers' files: the size's name, stride, sampling
    name = card.get("model_name") or size_of(args["dim"], args["depth"], args["patch"])
    return Checkpoint(folder, state, kind, {"data": card.get("data") or {}}, hf.labels_of(config), name, args)


def _infer_size(state: dict, kind: str) -> str | None:
    prefix = "encoder." if kind == "pretrain" else ""
    weight = state.get(f"{prefix}patch_embed.proj.weight")
    depth = len({k.split(".")[2 if prefix else 1] for k in state if k.startswith(f"{prefix}blocks.")})
    return size_of(int(weight.shape[0]), depth, int(weight.shape[-1])) if weight is not None else None


def load_weights(model: VideoClassifier, ckpt: Checkpoint, rows: list[int] | None) -> str:
    """Load `ckpt` into a classifier: the encoder of a pretraining checkpoint (new head), or a
    classifier with its head rows `rows` (None: a new head). Returns what was loaded."""
    if ckpt.kind == "pretrain":
        state, what = encoder_state(ckpt.state), "encoder from a pretraining checkpoint; new head"
        allowed = {"fc_norm.weight", "fc_norm.bias", "head.weight", "head.bias"}
    else:
        state = dict(ckpt.state)
        if rows is None:
            state = {k: v for k, v in state.items() if not k.startswith("head.")}
            what, allowed = f"classifier without its {ckpt.classes}-class head; new head", {"head.weight", "head.bias"}
        else:
            state["head.weight"], state["head.bias"] = state["head.weight"][rows], state["head.bias"][rows]
            sliced = rows != list(range(ckpt.classes))
            what = f"classifier, head {'sliced from ' + str(ckpt.classes) + ' classes' if sliced else 'kept'}"
            allowed = set()
    _load_into(model, state, ckpt, allowed)
    return what


def load_pretrain_weights(model: PretrainViT, ckpt: Checkpoint) -> str:
    """Load a pretraining checkpoint into a pretraining model to go on pretraining it: the encoder,
    and the decoder when both have one (a model with a decoder from one without starts a new one)."""
    if ckpt.kind != "pretrain":
        raise CheckpointError(f"{ckpt.path} is a classifier; pretraining goes on from a pretraining checkpoint. "
                              "Fine-tune from it instead ('vmae train finetune --init ...')")
    state = {k: v for k, v in ckpt.state.items() if not k.startswith(ALIGNMENT_KEYS)}
    decoder = model.has_decoder and ckpt.has_decoder
    if not decoder:
        state = {k: v for k, v in state.items() if k.startswith("encoder.")}
    allowed = set() if decoder else {k for k in model.state_dict() if not k.startswith("encoder.")}
    _load_into(model, state, ckpt, allowed)
    return "encoder and decoder" if decoder else "encoder" + ("; new decoder" if model.has_decoder else "")


def _load_into(model: torch.nn.Module, state: dict, ckpt: Checkpoint, allowed: set[str]) -> None:
    """Load `state`, allowing only the keys in `allowed` to stay as they are; a mismatch names the
    checkpoint and what to do."""
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as e:
        lines = str(e).splitlines()
        raise CheckpointError(f"{ckpt.path} does not fit a {model.cfg.dim}-wide, {model.cfg.depth}-deep model with "
                              f"tubelet {model.cfg.tubelet} and patch {model.cfg.patch}: "
                              f"{lines[1].strip() if len(lines) > 1 else e}. Use the --model, --tubelet and --patch "
                              "it was trained with") from e
    if set(missing) - allowed or unexpected:
        raise CheckpointError(f"{ckpt.path} does not fit the model: missing {sorted(set(missing) - allowed)[:5]}, "
                              f"unexpected {sorted(unexpected)[:5]}. Use the --model it was trained as")


def new_classifier(ckpt: Checkpoint, classes: int, model: str | None = None, **overrides) -> VideoClassifier:
    """A classifier shaped like the checkpoint's model (size, patch, tubelet, frames, input size
    unless overridden), with `classes` classes and untouched weights."""
    return build("classifier", {**ckpt.trunk_args(model), **overrides}, classes)


def classifier(ckpt: Checkpoint, model: str | None = None, **overrides) -> VideoClassifier:
    """The classifier a classification checkpoint holds, in eval mode."""
    if ckpt.kind != "classifier":
        raise CheckpointError(f"{ckpt.path} is a pretraining checkpoint: it has no classification head. Fine-tune it "
                              "first ('vmae train finetune --init ...'); for features use 'vmae embed'")
    clf = new_classifier(ckpt, ckpt.classes, model, **overrides)
    load_weights(clf, ckpt, list(range(ckpt.classes)))
    return clf.eval()
