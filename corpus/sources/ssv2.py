"""ssv2: a local Something-Something v2 folder: the webm videos (named {id}.webm) and the
labels JSON files (labels.json, train.json, validation.json, test.json). Nothing is downloaded."""

from __future__ import annotations

import json
from pathlib import Path

from corpus.errors import InputError
from corpus.sources.base import FETCH_LOCAL, Plan, Source, fail, is_plain_name, mark_duplicates, meta_json, plan_row
from corpus.sources.tabular import cell_text

SPLIT_FILES = {"train.json": "train", "validation.json": "val", "test.json": "test"}
VIDEO_SUFFIXES = (".webm", ".mp4")


def template_class(template: str) -> str:
    """'Putting [something] on [something]' → 'Putting something on something' (labels.json's key)."""
    return template.replace("[", "").replace("]", "")


def _find(root: Path, name: str) -> Path | None:
    direct = root / name
    if direct.is_file():
        return direct
    return next(iter(sorted(root.rglob(name))), None)


def _load(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as e:  # RecursionError: nested deeper than Python's stack
        raise InputError(f"{path}: not a readable JSON file ({type(e).__name__}: {e})") from e


def _class_ids(path: Path) -> dict[str, int]:
    """labels.json: class name → index."""
    classes = _load(path)
    try:
        return {str(name): int(index) for name, index in classes.items()}
    except (AttributeError, TypeError, ValueError) as e:
        raise InputError(f"{path}: expected a JSON object of class name to index, as SSv2 ships it ({e})") from e


class SSv2Source(Source):
    name = "ssv2"
    fetcher = FETCH_LOCAL

    def plan(self) -> Plan:
        rows: list[dict] = []
        labels: list[str] | None = None
        for given in self.options.inputs:
            root = Path(given)
            if not root.is_dir():
                raise InputError(f"{root}: expected the Something-Something v2 folder (videos + labels JSON files)")
            labels_file = _find(root, "labels.json")
            if labels_file is None:
                raise InputError(f"{root}: no labels.json; the ssv2 source needs labels.json and at least one of "
                                 f"{', '.join(SPLIT_FILES)}")
            classes = _class_ids(labels_file)
            labels = [name for name, _ in sorted(classes.items(), key=lambda kv: kv[1])]
            videos = {p.stem: p for p in root.rglob("*") if p.suffix in VIDEO_SUFFIXES}
            splits = [(f, s) for name, s in SPLIT_FILES.items() if (f := _find(root, name))]
            if not splits:
                raise InputError(f"{root}: none of {', '.join(SPLIT_FILES)} found")
            for path, split in splits:
                rows.extend(self._rows(path, split, videos, set(classes)))
        return Plan(list(mark_duplicates(rows)), labels=labels)

    def _rows(self, path: Path, split: str, videos: dict[str, Path], classes: set[str]) -> list[dict]:
        out, items = [], _load(path)
        if not isinstance(items, list):
            raise InputError(f"{path}: expected a JSON list of videos, found a {type(items).__name__}")
        for n, raw in enumerate(items, start=1):
            item = raw if isinstance(raw, dict) else {}
            vid = cell_text(item.get("id"))
            label = template_class(cell_text(item.get("template"))) or None
            video = videos.get(vid)
            plain = is_plain_name(vid)
            caption = cell_text(item.get("label")) or None
            row = plan_row(self.name, vid or f"{path.stem}{n}", split=split, label=label, caption=caption,
                           path=str(video or path.parent / f"{vid}.webm") if plain else None,
                           meta=meta_json({"input": str(path), "item": n, "placeholders": item.get("placeholders")}))
            if not vid:
                fail(row, "bad_row", f"{path} item {n}: no 'id'")
            elif not plain:
                fail(row, "bad_row", f"{path} item {n}: id {vid!r} is not a plain name (it names a video file of the "
                     "folder, so path separators and '..' are refused)")
            elif label is not None and label not in classes:
                fail(row, "unknown_label", f"{path} item {n}: template '{item['template']}' is not in labels.json",
                     skipped=True)
            out.append(row)
        return out
