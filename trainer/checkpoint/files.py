"""Reading checkpoint files as data, never code: torch files with weights_only (the one extra type
allowed is the argparse Namespace that released VideoMAE V2 / UMT files pickle), .safetensors
with the card `vmae export` writes, and the wrappers released files put around a state dict.

A record of ours is a dict of tensors and plain values: format, version, kind (the model family,
trainer/models/families.py), model_name, model_args (the ViTConfig it was built with, so it
rebuilds without being told the size), num_classes, model (state dict, released VideoMAE V2
names), objective (the objective's trainable parts, e.g. UMT's alignment heads), optimizer,
scaler, step, data (stream position), rng, config (the resolved run config), derived, and what a
stage adds (labels, best, ema, val_top1).
"""

from __future__ import annotations

import argparse
import json
import pickle
import re
import warnings
from pathlib import Path

import torch

from trainer.checkpoint import sharded
from trainer.errors import CheckpointError

FORMAT, VERSION = "vmae-checkpoint", 2
# the card that `vmae export` writes with the weights: in a .safetensors header under HEADER_KEY
# and as NAME.json beside it, or as vmae.json in a transformers folder
CARD_FORMAT, HEADER_KEY, CARD = "vmae-model", "vmae", "vmae.json"
# The one type besides tensors and plain values that released VideoMAE V2 / UMT files pickle: the
# argparse Namespace of their training arguments. Nothing else is allowed, and nothing is run.
RELEASED_TYPES = [argparse.Namespace]


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
            "family_args": card.get("family_args") or {},
            "config": {"data": card.get("data") or {}}, "model": tensors}


_CARD_FIELDS = ("kind", "model_name", "model_args", "num_classes", "labels")


def _card_of(path: Path, header: dict) -> dict | None:
    """What `vmae export` says of a weights file: from the file's header, else the JSON beside it."""
    text = header.get(HEADER_KEY)
    beside = path.with_suffix(".json")
    if text is None and beside.is_file():
        text = beside.read_text()
    return None if text is None else parse_card(text, path)


def parse_card(text: str, path: Path) -> dict | None:
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
