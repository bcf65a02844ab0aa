"""Loading a checkpoint's weights into a model to start from: the whole model of the same family,
or another family's video trunk (--init), by the rules of the model's family spec; and the
classifiers that evaluation rebuilds."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from trainer.checkpoint.reader import Checkpoint
from trainer.errors import CheckpointError
from trainer.models.classifier import VideoClassifier
from trainer.models.families import ALIGNMENT_KEYS, CLASSIFIER, family_of
from trainer.models.registry import build


def load_weights(model: torch.nn.Module, ckpt: Checkpoint, rows: list[int] | None = None,
                 loaded: Iterable[str] = ()) -> str:
    """Load `ckpt` into `model` by the rules of the model's family: a checkpoint of the same family
    gives what the model has of it (a classifier's head rows `rows`, None for a new head; a decoder
    only to a model with one); another family's gives its video trunk, where the model's family
    starts from it. Only the parts the family lets start new, and the weights `loaded` from
    elsewhere (a text tower from its BERT folder), may be missing. Returns what was loaded and what
    starts new, for the run's first line."""
    target, source = family_of(model), ckpt.family
    own = model.state_dict()
    note = ""
    if source is target:
        state = {k: v for k, v in ckpt.state.items() if not k.startswith(ALIGNMENT_KEYS)}
        if target.head:
            state, note = _head_rows(state, target.head, ckpt.classes, rows)
        # parts of the checkpoint this model does not have (a decoder, for a UMT student) stay out
        state = {k: v for k, v in state.items() if k in own or target.part(k) not in target.fresh}
    elif source.name in target.starts_from:
        state = target.with_trunk(source.trunk_of(ckpt.state))
    else:
        raise CheckpointError(f"{ckpt.path} is a {source.name} checkpoint; a {target.name} model starts from "
                              f"{' or '.join((target.name, *target.starts_from))} checkpoints. Fine-tune from it "
                              "instead ('vmae train finetune --init ...')")
    loaded = set(loaded)
    allowed = {k for k in own if target.part(k) in target.fresh} | loaded
    _load_into(model, state, ckpt, allowed)
    taken = dict.fromkeys(target.part(k) for k in state)
    new = dict.fromkeys(target.part(k) for k in own if k not in state and k not in loaded)
    return " and ".join(taken) + note + (f"; new {', '.join(new)}" if new else "")


def _head_rows(state: dict, head: str, classes: int, rows: list[int] | None) -> tuple[dict, str]:
    """The head's weight and bias: rows `rows` of the checkpoint's, or left out (a new head)."""
    layer = head.rsplit(".", 1)[0] + "."
    if rows is None:
        return {k: v for k, v in state.items() if not k.startswith(layer)}, ""
    state = {k: v[rows] if k.startswith(layer) else v for k, v in state.items()}
    sliced = rows != list(range(classes))
    return state, f" (head {'sliced from ' + str(classes) + ' classes' if sliced else 'kept'})"


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


def rebuild(ckpt: Checkpoint) -> torch.nn.Module:
    """The model a checkpoint of ours holds, whole (its family's), in eval mode."""
    model = build(ckpt.kind, ckpt.vit_args(), ckpt.classes, family_args=ckpt.family_args)
    load_weights(model, ckpt, list(range(ckpt.classes)) if ckpt.family.head else None)
    return model.eval()


def new_classifier(ckpt: Checkpoint, classes: int, model: str | None = None, **overrides) -> VideoClassifier:
    """A classifier shaped like the checkpoint's model (size, patch, tubelet, frames, input size
    unless overridden), with `classes` classes and untouched weights."""
    return build(CLASSIFIER.name, {**ckpt.trunk_args(model), **overrides}, classes)


def classifier(ckpt: Checkpoint, model: str | None = None, **overrides) -> VideoClassifier:
    """The classifier a classification checkpoint holds, in eval mode."""
    if not ckpt.family.head:
        raise CheckpointError(f"{ckpt.path} is a {ckpt.kind} checkpoint: it has no classification head. Fine-tune it "
                              "first ('vmae train finetune --init ...'); for features use 'vmae embed'")
    clf = new_classifier(ckpt, ckpt.classes, model, **overrides)
    load_weights(clf, ckpt, list(range(ckpt.classes)))
    return clf.eval()
