"""Merging several Kinetics annotation files (K400 + K600 + K700, train and val) into one plan:
renamed classes become one class, each YouTube video is fetched once, evaluation videos that
also occur in a training split are dropped, and label disagreements between versions are
settled in favour of the newest version, each one counted and listed."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

from corpus.sources.base import fail
from manifests.labels.label_list import read_label_list

TRAIN_SPLITS = {"train", "training"}
EVAL_SPLITS = {"val", "validate", "validation", "test", "testing"}


def drop_eval_in_train(rows: list[dict], report: dict) -> None:
    """An evaluation row whose video occurs in any training split is skipped (train wins)."""
    train_ids = {r["video_id"] for r in rows if r["status"] == "pending" and (r["split"] or "") in TRAIN_SPLITS}
    dropped = 0
    for r in rows:
        if r["status"] == "pending" and (r["split"] or "") in EVAL_SPLITS and r["video_id"] in train_ids:
            fail(r, "in_train", f"video {r['video_id']} also occurs in a training split; "
                 "dropped from evaluation to keep it clean", skipped=True)
            dropped += 1
    report["eval_in_train"] = dropped


def keep_newest_version(rows: list[dict], versions: dict[int, int], files: dict[int, str], report: dict) -> None:
    """A video annotated by several files keeps the rows of the newest one (each of its segments);
    rows of older files are skipped as duplicates. `versions` maps row index → version rank."""
    by_video: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        if r["status"] == "pending":
            by_video[r["video_id"]].append(i)
    conflicts, duplicates = [], 0
    for video_id, idx in by_video.items():
        newest = max(versions[i] for i in idx)
        winners = [i for i in idx if versions[i] == newest]
        kept_labels = {rows[i]["label"] for i in winners}
        for i in idx:
            if versions[i] == newest:
                continue
            r = rows[i]
            if r["label"] is not None and None not in kept_labels and r["label"] not in kept_labels:
                conflicts.append({"youtube_id": video_id, "label": r["label"], "file": files[i],
                                  "kept_label": sorted(kept_labels)[0], "kept_file": files[winners[0]]})
            fail(r, "duplicate", f"video {video_id} is also annotated in {files[winners[0]]} (a newer "
                 "version); it is fetched once, with that file's annotation", skipped=True)
            duplicates += 1
    report["cross_version_duplicates"] = duplicates
    report["label_conflicts"] = len(conflicts)
    report["label_conflict_list"] = conflicts


def count_renames(original_labels: list[str | None], rows: list[dict], report: dict) -> None:
    renamed = Counter(f"{o} -> {r['label']}" for o, r in zip(original_labels, rows, strict=True)
                      if o is not None and o != r["label"])
    report["renamed_classes"] = dict(sorted(renamed.items()))


def version_maps(rows: list[dict], versions: dict[int, int], labels: list[str],
                 version_labels: dict[int, str]) -> dict[str, bytes]:
    """For each Kinetics version in the build, its classes (in the order of a given label list,
    else sorted) and their indices in the corpus' labels: the slices a fine-tune takes from a
    710-way head."""
    index = {name: i for i, name in enumerate(labels)}
    present: dict[int, set[str]] = defaultdict(set)
    for i, r in enumerate(rows):
        if r["label"] is not None and versions[i] in (400, 600, 700):
            present[versions[i]].add(r["label"])
    files = {}
    for version, names in sorted(present.items()):
        order = read_label_list(version_labels[version]) if version in version_labels else sorted(names)
        missing = [n for n in order if n not in index]
        doc = {"version": f"k{version}", "corpus_classes": len(labels), "classes": order,
               "index": [index.get(n) for n in order], "missing_from_corpus": missing}
        files[f"label_maps/k{version}.json"] = json.dumps(doc, indent=1, ensure_ascii=False).encode()
    return files


def parse_version_labels(specs: tuple[str, ...]) -> dict[int, str]:
    out = {}
    for spec in specs:
        version, _, path = spec.partition("=")
        if version.lstrip("kK") not in ("400", "600", "700") or not Path(path).is_file():
            raise ValueError(f"--version-labels '{spec}': write 400=FILE, 600=FILE or 700=FILE with an existing file")
        out[int(version.lstrip("kK"))] = path
    return out
