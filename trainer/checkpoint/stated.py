"""What a checkpoint file says its model is (its record's arguments, an export's card, a
transformers config.json), held against the weights it holds before anything is built: a few
crafted bytes of config otherwise had vmae build a 51 GB model, or 400 layers one by one."""

from __future__ import annotations

from pathlib import Path

import torch

from trainer.errors import CheckpointError
from trainer.models.families import family
from trainer.models.registry import build, check_args
from trainer.models.sizes import ModelError


def check_stated(path: Path, kind: str, args, state: dict, family_args: dict | None = None) -> None:
    """The model a file states must be one vmae builds (models.check_args) and be the weights the
    file holds: depths counted, then every weight present with its shape, compared on the meta
    device, where nothing is allocated."""
    try:
        if not isinstance(args, dict):
            raise ModelError(f"the model arguments are a {type(args).__name__}, not a mapping")
        cfg = check_args(args)
        if not isinstance(family_args or {}, dict):
            raise ModelError(f"the family's arguments are a {type(family_args).__name__}, not a mapping")
        spec = family(kind)
        spec.check_args(family_args or {})
    except ModelError as e:
        raise CheckpointError(f"{path}: the model it states is not one vmae builds: {e}") from e
    prefix = spec.trunk
    for stated, found, what in ((cfg.depth, _count(state, f"{prefix}blocks."), "blocks"),
                                (cfg.decoder_depth, _count(state, "decoder.blocks."), "decoder blocks")):
        if found and stated != found:
            raise CheckpointError(f"{path} states {stated} {what} but its weights have {found}")
    classes = spec.classes(state)
    with torch.device("meta"):
        expected = build(kind, args, classes, family_args=family_args).state_dict()
    missing = sorted(set(expected) - set(state))
    if missing:  # what the file lacks would be built at the stated size, unchecked
        raise CheckpointError(f"{path}: the model it states has weights the file lacks ({len(missing)}, e.g. "
                              f"{missing[:3]}); the file's config does not describe its weights")
    for key, value in state.items():
        if key in expected and tuple(value.shape) != tuple(expected[key].shape):
            raise CheckpointError(f"{path}: weight {key} is {tuple(value.shape)}, the model it states needs "
                                  f"{tuple(expected[key].shape)}; the file's config does not describe its weights")


def _count(state: dict, prefix: str) -> int:
    return len({k[len(prefix):].split(".")[0] for k in state if k.startswith(prefix)})
