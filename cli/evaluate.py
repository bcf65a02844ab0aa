"""`vmae eval`, `vmae predict` and `vmae embed`: using a trained model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import decord
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
import typer

from manifests.atomic import atomic_path
from manifests.labels.label_list import read_label_list
from trainer.data.augment import to_model_input
from trainer.data.shards import DataError, resolve_shards
from trainer.data.views import clip_indices, crop_views
from trainer.eval.evaluate import collect, data_config_of, run_eval
from trainer.eval.multiview import video_probabilities
from trainer.init_model import InitError, classifier_from, initialize, read_checkpoint
from trainer.models import create_classifier

FAILURES = (ValueError, DataError, InitError)
Ckpt = Annotated[str, typer.Option(help="Checkpoint file or run folder (its newest checkpoint; best.pt for a "
                                        "validated run's best).")]
Model = Annotated[str | None, typer.Option(help="Model size, for a released file that does not say it.")]


def _fail(e: Exception) -> typer.Exit:
    typer.secho(f"error: {e}", fg="red", err=True)
    return typer.Exit(2)


def eval_command(
    shards: Annotated[list[str], typer.Option(help="Labeled corpus folder (or URL pattern); repeat.")],
    ckpt: Ckpt,
    clips: Annotated[int, typer.Option(help="Temporal clips per video, spread evenly.")] = 5,
    crops: Annotated[int, typer.Option(help="Spatial crops per clip along the long side.")] = 3,
    out: Annotated[Path | None, typer.Option(help="Folder for the results (default: eval/ beside the "
                                                  "checkpoint).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an earlier evaluation in --out.")] = False,
    batch_size: Annotated[int, typer.Option(help="Videos per batch (each with clips × crops views).")] = 4,
    workers: Annotated[int | None, typer.Option(help="Loader worker processes.")] = None,
    model: Model = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Multi-view evaluation: top-1/top-5, per-class accuracy and the confusion matrix as Parquet,
    and confusion.png."""
    where = Path(ckpt)
    out = out or (where if where.is_dir() else where.parent) / "eval"
    try:
        s = run_eval(ckpt, shards, out, clips, crops, batch_size, workers, model, overwrite, progress)
    except FAILURES as e:
        raise _fail(e) from e
    typer.echo(f"top-1 {s['top1']:.4f}  top-5 {s['top5']:.4f}  on {s['clips']} clips ({clips} clips × {crops} "
               f"crops each){'; ' + str(s['failed']) + ' could not be decoded' if s['failed'] else ''}")
    typer.echo(f"results: {out}/predictions.parquet, per_class.parquet, confusion.parquet, confusion.png")


def predict(
    videos: Annotated[list[Path], typer.Argument(help="Video files.")],
    ckpt: Ckpt,
    topk: Annotated[int, typer.Option(help="Classes to show per video.")] = 5,
    clips: Annotated[int, typer.Option(help="Temporal clips per video.")] = 5,
    crops: Annotated[int, typer.Option(help="Spatial crops per clip.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per video instead of a table.")] = False,
    labels: Annotated[Path | None, typer.Option(help="Class names, one per line (for a released file).")] = None,
    model: Model = None,
) -> None:
    """Classify video files: the top classes with their probabilities (softmax averaged over
    clips × crops)."""
    try:
        c = read_checkpoint(ckpt)
        clf = classifier_from(c, model)
        names = read_label_list(labels) if labels else c.labels or [str(i) for i in range(c.classes)]
        if len(names) != clf.num_classes:
            raise InitError(f"--labels names {len(names)} classes, {c.path} has {clf.num_classes}")
        data = data_config_of(c)
    except FAILURES as e:
        raise _fail(e) from e
    failed = 0
    for video in videos:
        try:
            vr = decord.VideoReader(str(video))
            idx = clip_indices(len(vr), data.frames, data.stride, clips)
            frames = vr.get_batch(np.unique(idx).tolist()).asnumpy()
            frames = frames[np.searchsorted(np.unique(idx), idx)]
        except (decord.DECORDError, RuntimeError, ValueError) as e:
            failed += 1
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            msg = f"cannot decode {video}: {reason}" if video.is_file() else f"{video} does not exist"
            typer.echo(json.dumps({"video": str(video), "error": msg}) if as_json else f"error: {msg}", err=not as_json)
            continue
        with torch.inference_mode():
            probs = video_probabilities(clf(to_model_input(crop_views(frames, data.img_size, crops))[0]))
        top = torch.topk(probs, min(topk, len(names)))
        rows = [{"class": names[int(i)], "id": int(i), "prob": round(float(p), 4)}
                for p, i in zip(top.values, top.indices, strict=True)]
        if as_json:
            typer.echo(json.dumps({"video": str(video), "top": rows}))
        else:
            typer.echo(f"{video}")
            for r in rows:
                typer.echo(f"  {r['prob']:.4f}  {r['class']}")
    if failed:
        raise typer.Exit(1)


def embed(
    shards: Annotated[list[str], typer.Option(help="Corpus folder or URL pattern; repeat.")],
    ckpt: Ckpt,
    out: Annotated[Path, typer.Option(help="Parquet file to write: clip_key, embedding.")],
    clips: Annotated[int, typer.Option(help="Temporal clips averaged per video.")] = 1,
    crops: Annotated[int, typer.Option(help="Spatial crops averaged per clip.")] = 1,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out.")] = False,
    batch_size: Annotated[int, typer.Option(help="Videos per batch.")] = 8,
    workers: Annotated[int | None, typer.Option(help="Loader worker processes.")] = None,
    model: Model = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """One pooled feature vector per clip (mean of the encoder's tokens, normalized; averaged over
    views), for retrieval, linear probes or dedup. Works with pretraining checkpoints too."""
    if out.exists() and not overwrite:
        raise _fail(ValueError(f"{out} exists; give another --out or --overwrite"))
    try:
        c = read_checkpoint(ckpt)
        data = data_config_of(c, workers=workers)
        if c.kind == "classifier":
            net = classifier_from(c, model)
        else:
            name = c.config.get("model") or model
            if not name:
                raise InitError(f"{c.path} does not say which model it is (a released file): give --model")
            net = create_classifier(name, 1, frames=data.frames, img_size=data.img_size, tubelet=data.tubelet,
                                    patch=data.patch)
            initialize(net, c, None)
            net.eval()
        urls, _ = resolve_shards(shards)
        with torch.inference_mode():
            result = collect(net.features, urls, data, clips, crops, batch_size, torch.device("cpu"), labeled=False,
                             progress=progress, desc="embed", reduce="mean")
    except FAILURES as e:
        raise _fail(e) from e
    table = pa.table({"clip_key": result.keys,
                      "embedding": pa.FixedSizeListArray.from_arrays(
                          pa.array(result.values.astype(np.float32).ravel()), result.values.shape[1])})
    with atomic_path(out) as tmp:
        pq.write_table(table, tmp)
    typer.echo(f"{len(result.keys)} embeddings of {result.values.shape[1]} values → {out}"
               + (f"; {len(result.failed)} clips could not be decoded" if result.failed else ""))
    if result.failed:
        typer.echo(f"undecodable, e.g.: {', '.join(result.failed[:10])}", err=True)
