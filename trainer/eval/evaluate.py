"""Running a model over a corpus: the multi-view test protocol (validation uses one view) and its
scores written as Parquet + a confusion-matrix PNG (`vmae eval`); `collect` also gives pooled
features for `vmae embed`."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from tqdm import tqdm

from manifests.atomic import atomic_path
from manifests.tables import write_atomic_bytes
from trainer import checkpoint, distributed
from trainer.data.augment import to_model_input
from trainer.data.config import DataConfig
from trainer.data.labeled import ViewStream, corpus_labels, stack_views, view_loader
from trainer.data.shards import resolve_shards
from trainer.errors import CheckpointError, ConfigError, DataError
from trainer.eval.multiview import scores, video_probabilities
from trainer.models.classifier import VideoClassifier

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@dataclass
class Collected:
    keys: list[str]
    labels: np.ndarray  # (N,) label ids, -1 where unlabeled
    values: np.ndarray  # (N, classes) probabilities or (N, D) features
    failed: list[str]  # clips that could not be decoded


def collect(fn: Callable[[torch.Tensor], torch.Tensor], urls: list[str], data: DataConfig, clips: int, crops: int,
            batch_size: int, device: torch.device, labeled: bool = True, rank: int = 0, world: int = 1,
            progress: bool = False, desc: str = "eval", reduce: str = "softmax") -> Collected:
    """Apply `fn` ((views, C, T, S, S) normalized input -> (views, K)) to every clip's views and
    average per clip: softmax probabilities (reduce='softmax') or raw outputs ('mean'). Under DDP
    each rank takes its share of the shards; every rank gets all results."""
    stream = ViewStream(urls, data, clips, crops, rank, world, labeled)
    keys, labels, values, failed = [], [], [], []
    per_clip = clips * crops
    with torch.inference_mode():
        for items in tqdm(view_loader(stream, batch_size), desc=desc, unit="batch", disable=not progress,
                          leave=False):
            failed += [it["key"] for it in items if it["views"] is None]
            x, good = stack_views(items)
            if not good:
                continue
            out = fn(to_model_input(x.to(device))[0]).float().cpu().view(len(good), per_clip, -1)
            for it, o in zip(good, out, strict=True):
                keys.append(it["key"])
                labels.append(it["label"])
                values.append((video_probabilities(o) if reduce == "softmax" else o.mean(dim=0)).numpy())
    mine = (keys, labels, values, failed)
    if dist.is_initialized() and world > 1:
        parts: list = [None] * world
        dist.all_gather_object(parts, mine)
        keys, labels, values, failed = ([x for p in parts for x in p[i]] for i in range(4))
    dim = values[0].shape[0] if values else 0
    return Collected(keys, np.array(labels, np.int64), np.stack(values) if values else np.zeros((0, dim)), failed)


def classify(model: VideoClassifier, urls: list[str], data: DataConfig, clips: int = 1, crops: int = 1,
             batch_size: int = 8, device: torch.device | None = None, **kwargs) -> Collected:
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        return collect(model, urls, data, clips, crops, batch_size, device, **kwargs)
    finally:
        model.train(was_training)


def score(result: Collected, classes: int) -> dict:
    if len(result.keys) == 0:
        return {"top1": float("nan"), "top5": float("nan"), "clips": 0}
    bad = result.labels[(result.labels < 0) | (result.labels >= classes)]
    if len(bad):
        raise DataError(f"label ids {sorted(set(bad.tolist()))[:5]} are outside the model's {classes} classes")
    return {**scores(result.values, result.labels, classes), "clips": len(result.keys)}


def write_eval(out: Path, result: Collected, names: list[str], meta: dict) -> dict:
    """predictions/per_class/confusion Parquet files, confusion.png and summary.json in `out`."""
    classes = len(names)
    s = score(result, classes)
    out.mkdir(parents=True, exist_ok=True)
    top = np.argsort(-result.values, axis=1)[:, : min(5, classes)]
    predictions = pd.DataFrame({
        "clip_key": result.keys, "label": result.labels, "label_name": [names[i] for i in result.labels],
        "pred": top[:, 0], "pred_name": [names[i] for i in top[:, 0]],
        "prob": result.values[np.arange(len(top)), top[:, 0]], "top5": [list(map(int, r)) for r in top],
        "correct": top[:, 0] == result.labels})
    counts = s["confusion"].sum(axis=1)
    per_class = pd.DataFrame({"label": np.arange(classes), "label_name": names, "clips": counts,
                              "top1": s["per_class"]})
    truth, pred = np.nonzero(s["confusion"])
    confusion = pd.DataFrame({"label": truth, "label_name": [names[i] for i in truth], "pred": pred,
                              "pred_name": [names[i] for i in pred], "clips": s["confusion"][truth, pred]})
    for name, frame in (("predictions", predictions), ("per_class", per_class), ("confusion", confusion)):
        with atomic_path(out / f"{name}.parquet") as tmp:
            frame.to_parquet(tmp, index=False)
    plot_confusion(s["confusion"], names, out / "confusion.png", f"top-1 {s['top1']:.3f} on {len(result.keys)} clips")
    summary = {"top1": s["top1"], "top5": s["top5"], "clips": len(result.keys), "failed": len(result.failed),
               "failed_keys": result.failed[:100], "classes": classes, **meta}
    write_atomic_bytes(out / "summary.json", json.dumps(summary, indent=2).encode())
    return summary


def plot_confusion(confusion: np.ndarray, names: list[str], png: Path, title: str) -> Path:
    """Row-normalized confusion matrix; class names on the axes when there are few enough."""
    rows = confusion.sum(axis=1, keepdims=True)
    share = np.divide(confusion, rows, out=np.zeros(confusion.shape), where=rows > 0)
    n = len(names)
    side = min(14.0, 3 + 0.35 * n)
    fig, ax = plt.subplots(figsize=(side + 1.5, side))
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    if n <= 40:
        ax.set_xticks(range(n), names, rotation=90, fontsize=8)
        ax.set_yticks(range(n), names, fontsize=8)
        if n <= 12:
            for (i, j), v in np.ndenumerate(confusion):
                if v:
                    ax.text(j, i, str(v), ha="center", va="center", fontsize=8,
                            color="white" if share[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of the true class")
    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return png


def data_config_of(ckpt: checkpoint.Checkpoint, **overrides) -> DataConfig:
    """The checkpoint's run's frames, sampling and size (defaults for a released file)."""
    return dataclasses.replace(DataConfig(**ckpt.geometry()), **{k: v for k, v in overrides.items() if v is not None})


def run_eval(ckpt_path: str | Path, shards: list[str], out: Path, clips: int = 5, crops: int = 3,
             batch_size: int = 8, workers: int | None = None, model: str | None = None,
             overwrite: bool = False, progress: bool = True, decoder: str | None = None,
             decode_device: str | None = None) -> dict | None:
    """`vmae eval`: the multi-view protocol over a labeled corpus, results written to `out`; the
    summary (None on ranks other than 0 under torchrun)."""
    if (out / "summary.json").exists() and not overwrite:
        raise ConfigError(f"{out} already holds an evaluation; give another --out or --overwrite")
    env = distributed.setup()
    ckpt = checkpoint.read(ckpt_path)
    urls, _ = resolve_shards(shards)
    names = corpus_labels(shards) or ckpt.labels
    if names is None:
        raise DataError("the shards are URL patterns and the checkpoint does not list its classes: evaluate a "
                        "corpus folder (its labels.txt names the classes)")
    if ckpt.labels is not None and ckpt.labels != names:
        raise CheckpointError(f"{ckpt.path} was trained on other classes than {shards} has ({len(ckpt.labels)} vs "
                        f"{len(names)}); fine-tune it on this corpus' classes first ('vmae train finetune')")
    clf = checkpoint.classifier(ckpt, model).to(env.device)
    if clf.num_classes != len(names):
        raise CheckpointError(f"{ckpt.path} has {clf.num_classes} classes, {shards} has {len(names)}")
    data = data_config_of(ckpt, workers=workers, decoder=decoder, decode_device=decode_device)
    result = classify(clf, urls, data, clips, crops, batch_size, env.device, rank=env.rank, world=env.world,
                      progress=progress and env.main)
    summary = None  # the other ranks of a torchrun eval: rank 0 writes and reports
    if env.main:
        summary = write_eval(out, result, names, {"checkpoint": str(ckpt.path), "shards": list(shards),
                                                  "clips_per_video": clips, "crops": crops,
                                                  **data.geometry().__dict__})
    distributed.teardown()
    return summary
