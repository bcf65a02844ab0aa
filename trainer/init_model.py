"""Reading checkpoints (ours from any stage, or released VideoMAE V2 files) and starting a
classifier from one: the encoder from a pretraining checkpoint, the whole classifier from a
classification one, its head kept, sliced to the target's classes by a label map, or new."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from manifests.labels.kinetics import canonical
from manifests.labels.label_list import read_label_list
from trainer import checkpoint
from trainer.models import create_classifier
from trainer.models.classifier import VideoClassifier, encoder_state


class InitError(Exception):
    """A checkpoint that cannot start this run, with what to do about it."""


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    state: dict  # model weights, released names
    kind: str  # "pretrain" | "classifier"
    config: dict  # our run's resolved config; {} for released files
    labels: list[str] | None  # class names of a classifier's head, when known

    @property
    def classes(self) -> int:
        return int(self.state["head.weight"].shape[0]) if self.kind == "classifier" else 0


def read_checkpoint(path: str | Path) -> Checkpoint:
    """A checkpoint file, or a run folder (its newest checkpoint)."""
    path = Path(path)
    if path.is_dir():
        found = checkpoint.latest(path)
        if found is None:
            raise InitError(f"{path} holds no checkpoints (ckpt-*.pt); give a checkpoint file or a finished run")
        path = found
    if not path.is_file():
        raise InitError(f"checkpoint {path} does not exist")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # torch raises many kinds for a file that is not a checkpoint
        raise InitError(f"{path} is not a readable torch checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(raw, dict):
        raise InitError(f"{path} holds a {type(raw).__name__}, not a checkpoint dictionary")
    state = checkpoint.unwrap_state_dict(raw)
    # a fixed sin-cos table is rebuilt for the run's frames and size, never loaded
    state = {k: v for k, v in state.items() if k not in ("pos_embed", "encoder.pos_embed")}
    if any(k.startswith("encoder.") for k in state):
        kind = "pretrain"
    elif "head.weight" in state and any(k.startswith("blocks.") for k in state):
        kind = "classifier"
    else:
        raise InitError(f"{path} is neither a VideoMAE pretraining checkpoint (encoder.*) nor a classifier "
                        f"(blocks.*, head.*); its first keys: {sorted(state)[:5]}")
    return Checkpoint(path, state, kind, raw.get("config") or {}, raw.get("labels"))


def read_index_map(path: str | Path) -> list[int]:
    """A head index map: a JSON list (label_710to400.json) or our label_maps/kNNN.json."""
    doc = json.loads(Path(path).read_text())
    index = doc.get("index") if isinstance(doc, dict) else doc
    if not isinstance(index, list):
        raise InitError(f"--label-map {path}: expected a JSON list of head rows or an object with 'index'")
    missing = [doc["classes"][i] for i, v in enumerate(index) if v is None] if isinstance(doc, dict) else []
    if missing or not all(isinstance(v, int) for v in index):
        raise InitError(f"--label-map {path}: classes without a row in the checkpoint's head: {missing[:5] or index}")
    return index


def head_rows(ckpt: Checkpoint, target: list[str] | None, classes: int, label_map: str | None = None,
              label_map_from: str | None = None, label_map_to: str | None = None,
              new_head: bool = False) -> list[int] | None:
    """Which rows of the checkpoint's head become the target's classes 0..classes-1 (None: a new
    head). Names match through the Kinetics renames, so K400 names find their K710 rows."""
    if label_map:
        index = read_index_map(label_map)
    elif label_map_from or label_map_to:
        source = read_label_list(label_map_from) if label_map_from else ckpt.labels
        names = read_label_list(label_map_to) if label_map_to else target
        if source is None or names is None:
            raise InitError("--label-map-from needs --label-map-to (or a corpus with labels.txt), and the other way "
                            "round for a checkpoint that does not list its classes")
        if target is not None:
            lacking = [n for n in names if n not in target]
            if lacking or len(names) != len(target):
                raise InitError(f"--label-map-to names {len(names)} classes, the corpus has {len(target)}; "
                                f"classes the corpus lacks: {lacking[:5]}")
            names = target  # head rows follow the corpus' label ids
        index = _by_name(source, names, "--label-map-from")
    elif ckpt.labels is not None and target is not None and ckpt.labels != target:
        try:
            index = _by_name(ckpt.labels, target, f"the classes of {ckpt.path.name}")
        except InitError:
            if new_head:
                return None
            raise
    elif ckpt.classes == classes:
        return list(range(classes))
    elif new_head:
        return None
    else:
        raise InitError(f"{ckpt.path} has a {ckpt.classes}-class head and the corpus has {classes} classes. Give "
                        "--label-map (e.g. a label_maps/k400.json of a Kinetics corpus, or label_710to400.json), or "
                        "--label-map-from/--label-map-to class lists, or --new-head to start a new head")
    if len(index) != classes:
        raise InitError(f"the label map has {len(index)} entries, the corpus has {classes} classes")
    bad = [v for v in index if not 0 <= v < ckpt.classes]
    if bad:
        raise InitError(f"the label map names head rows {bad[:5]} beyond the checkpoint's {ckpt.classes} classes")
    return index


def _by_name(source: list[str], names: list[str], where: str) -> list[int]:
    row = {canonical(n): i for i, n in enumerate(source)}
    lacking = [n for n in names if canonical(n) not in row]
    if lacking:
        raise InitError(f"{len(lacking)} target classes are not among {where}: {lacking[:5]}. Give "
                        "--label-map-from/--label-map-to, or --new-head to start a new head")
    return [row[canonical(n)] for n in names]


def initialize(model: VideoClassifier, ckpt: Checkpoint, rows: list[int] | None) -> str:
    """Load `ckpt` into `model`; returns what was loaded, for the run's first line."""
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
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as e:
        raise InitError(f"{ckpt.path} does not fit {model.cfg.dim}-wide, {model.cfg.depth}-deep model: "
                        f"{str(e).splitlines()[1] if len(str(e).splitlines()) > 1 else e}. Use the --model it was "
                        "trained as") from e
    if set(missing) - allowed or unexpected:
        raise InitError(f"{ckpt.path} does not fit the model: missing {sorted(set(missing) - allowed)[:5]}, "
                        f"unexpected {sorted(unexpected)[:5]}. Use the --model it was trained as")
    return what


def classifier_from(ckpt: Checkpoint, model: str | None = None, **overrides) -> VideoClassifier:
    """The classifier a classification checkpoint holds, built at the size its run used (or
    `model` for a released file), with its run's frames and input size unless overridden."""
    if ckpt.kind != "classifier":
        raise InitError(f"{ckpt.path} is a pretraining checkpoint: it has no classification head. Fine-tune it "
                        "first ('vmae train finetune --init ...'); for features use 'vmae embed'")
    name = ckpt.config.get("model") or model
    if not name:
        raise InitError(f"{ckpt.path} does not say which model it is (a released file): give --model")
    data = ckpt.config.get("data", {})
    opts = {"frames": data.get("frames", 16), "img_size": data.get("img_size", 224),
            "tubelet": data.get("tubelet", 2), "patch": data.get("patch", 16)} | overrides
    clf = create_classifier(name, ckpt.classes, **opts)
    initialize(clf, ckpt, list(range(ckpt.classes)))
    return clf.eval()
