"""Which rows of a checkpoint's classification head become the target's classes: kept when the
classes match, sliced by an index map (label_710to400.json, label_maps/kNNN.json), by class-name
lists, or by the names a checkpoint of ours stores (Kinetics renames applied); or a new head."""

from __future__ import annotations

import json
from pathlib import Path

from manifests.labels.kinetics import canonical
from manifests.labels.label_list import read_label_list
from trainer.checkpoint import Checkpoint
from trainer.errors import CheckpointError


def read_index_map(path: str | Path) -> list[int]:
    """A head index map: a JSON list (label_710to400.json) or our label_maps/kNNN.json."""
    doc = json.loads(Path(path).read_text())
    index = doc.get("index") if isinstance(doc, dict) else doc
    if not isinstance(index, list):
        raise CheckpointError(f"--label-map {path}: expected a JSON list of head rows or an object with 'index'")
    missing = [doc["classes"][i] for i, v in enumerate(index) if v is None] if isinstance(doc, dict) else []
    if missing or not all(isinstance(v, int) for v in index):
        raise CheckpointError(f"--label-map {path}: classes without a row in the checkpoint's head: "
                              f"{missing[:5] or index}")
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
            raise CheckpointError("--label-map-from needs --label-map-to (or a corpus with labels.txt), and the other "
                                  "way round for a checkpoint that does not list its classes")
        if target is not None:
            lacking = [n for n in names if n not in target]
            if lacking or len(names) != len(target):
                raise CheckpointError(f"--label-map-to names {len(names)} classes, the corpus has {len(target)}; "
                                      f"classes the corpus lacks: {lacking[:5]}")
            names = target  # head rows follow the corpus' label ids
        index = _by_name(source, names, "--label-map-from")
    elif ckpt.labels is not None and target is not None and ckpt.labels != target:
        try:
            index = _by_name(ckpt.labels, target, f"the classes of {ckpt.path.name}")
        except CheckpointError:
            if new_head:
                return None
            raise
    elif ckpt.classes == classes:
        return list(range(classes))
    elif new_head:
        return None
    else:
        raise CheckpointError(f"{ckpt.path} has a {ckpt.classes}-class head and the corpus has {classes} classes. "
                              "Give --label-map (e.g. a label_maps/k400.json of a Kinetics corpus, or "
                              "label_710to400.json), or --label-map-from/--label-map-to class lists, or --new-head "
                              "to start a new head")
    if len(index) != classes:
        raise CheckpointError(f"the label map has {len(index)} entries, the corpus has {classes} classes")
    bad = [v for v in index if not 0 <= v < ckpt.classes]
    if bad:
        raise CheckpointError(f"the label map names head rows {bad[:5]} beyond the checkpoint's {ckpt.classes} classes")
    return index


def _by_name(source: list[str], names: list[str], where: str) -> list[int]:
    row = {canonical(n): i for i, n in enumerate(source)}
    lacking = [n for n in names if canonical(n) not in row]
    if lacking:
        raise CheckpointError(f"{len(lacking)} target classes are not among {where}: {lacking[:5]}. Give "
                              "--label-map-from/--label-map-to, or --new-head to start a new head")
    return [row[canonical(n)] for n in names]
