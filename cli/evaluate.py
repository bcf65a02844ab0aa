"""`vmae eval`, `vmae predict` and `vmae embed`: using a trained model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.common import DecodeDevice, Decoder, Progress, fail, machine_faults, say

Ckpt = Annotated[str, typer.Option(help="Checkpoint file or run folder (its newest checkpoint; best.pt for a "
                                        "validated run's best).")]
Model = Annotated[str | None, typer.Option(help="Model size, for a released file whose shape matches no "
                                                "registered size.")]
Workers = Annotated[int | None, typer.Option(help="Loader worker processes.")]


def eval_command(
    shards: Annotated[list[str], typer.Option(help="Labeled corpus folder (or URL pattern); a captioned one for "
                                                   "--task retrieval; repeat.")],
    ckpt: Ckpt,
    task: Annotated[str, typer.Option(help="classification (multi-view top-1/top-5) or retrieval (text-to-video "
                                           "and video-to-text R@1/5/10 of a vlpretrain checkpoint).")
                    ] = "classification",
    rerank: Annotated[int, typer.Option(help="Retrieval: re-rank each query's top k by the matching head (0: "
                                             "contrastive ranking only).")] = 128,
    paragraph: Annotated[bool, typer.Option(help="Retrieval: join each video's captions into one (DiDeMo, "
                                                 "ActivityNet).")] = False,
    clips: Annotated[int, typer.Option(help="Temporal views per video, spread evenly.")] = 5,
    crops: Annotated[int, typer.Option(help="Spatial crops per view along the long side.")] = 3,
    out: Annotated[Path | None, typer.Option(help="Folder for the results (default: eval/ beside the "
                                                  "checkpoint).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an earlier evaluation in --out.")] = False,
    batch_size: Annotated[int, typer.Option(help="Videos per batch (each with clips × crops views).")] = 4,
    workers: Workers = None,
    model: Model = None,
    decoder: Decoder = None,
    decode_device: DecodeDevice = None,
    progress: Progress = True,
) -> None:
    """Multi-view classification: top-1/top-5, per-class accuracy and the confusion matrix as
    Parquet, and confusion.png. Retrieval: R@1/5/10 both ways, by the contrastive similarity and
    re-ranked by the matching head (both reported), retrieval.json and retrieval.png."""
    from trainer.errors import USER_ERRORS

    where = Path(ckpt)
    out = out or (where if where.is_dir() else where.parent) / ("eval" if task == "classification" else "retrieval")
    if task not in ("classification", "retrieval"):
        raise fail(ValueError(f"--task must be classification or retrieval, got {task!r}"))
    if task == "retrieval":
        _retrieval(ckpt, shards, out, rerank, paragraph, overwrite, batch_size, workers, progress, decoder,
                   decode_device)
        return
    from trainer.eval.evaluate import run_eval

    try:
        with machine_faults("eval", out):
            s = run_eval(ckpt, shards, out, clips, crops, batch_size, workers, model, overwrite, progress, decoder,
                         decode_device)
    except USER_ERRORS as e:
        raise fail(e) from e
    if s is None:
        return  # another rank of a torchrun eval: rank 0 reports
    typer.echo(f"top-1 {s['top1']:.4f}  top-5 {s['top5']:.4f}  on {s['clips']} clips ({clips} clips × {crops} "
               f"crops each){'; ' + str(s['failed']) + ' could not be decoded' if s['failed'] else ''}")
    typer.echo(f"results: {out}/predictions.parquet, per_class.parquet, confusion.parquet, confusion.png")


def _retrieval(ckpt: str, shards: list[str], out: Path, rerank: int, paragraph: bool, overwrite: bool,
               batch_size: int, workers: int | None, progress: bool, decoder: str | None,
               decode_device: str | None) -> None:
    from trainer.errors import USER_ERRORS
    from trainer.eval.retrieval import run_retrieval

    try:
        with machine_faults("eval", out):
            r = run_retrieval(ckpt, shards, out, batch_size, workers, paragraph, rerank, overwrite, progress, decoder,
                              decode_device)
    except USER_ERRORS as e:
        raise fail(e) from e
    typer.echo(f"{r['videos']} videos, {r['captions']} captions")
    for how, figures in ((k, r[k]) for k in ("contrastive", "reranked") if k in r):
        name = how if how == "contrastive" else f"re-ranked (top {rerank} by the matching head)"
        typer.echo(f"{name}: text-to-video R@1/5/10 {figures['t2v_r1']:.1f} / {figures['t2v_r5']:.1f} / "
                   f"{figures['t2v_r10']:.1f}; video-to-text {figures['v2t_r1']:.1f} / {figures['v2t_r5']:.1f} / "
                   f"{figures['v2t_r10']:.1f}; mean {figures['mean']:.1f}")
    typer.echo(f"results: {out}/retrieval.json, retrieval.png")


def search(
    ckpt: Annotated[str, typer.Argument(help="A vlpretrain checkpoint file or run folder.")],
    queries: Annotated[list[str], typer.Argument(help="What to look for, in words; several queries at once.")],
    shards: Annotated[list[str], typer.Option(help="Corpus folder (or URL pattern) to search; repeat.")],
    top: Annotated[int, typer.Option(help="Clips to show per query.")] = 10,
    sheet: Annotated[Path | None, typer.Option(help="Contact sheet PNG of the top clips (default: search.png "
                                                    "here; '' for none).")] = Path("search.png"),
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per query instead of a table.")] = False,
    batch_size: Annotated[int, typer.Option(help="Clips per batch.")] = 16,
    workers: Workers = None,
    progress: Progress = True,
) -> None:
    """Text-to-video search with a vlpretrain checkpoint: the clips of a corpus closest to each
    query in the shared space, with scores, shard, source video and times, and a contact sheet."""
    from trainer.errors import USER_ERRORS
    from trainer.eval.search import search as run

    picture = sheet if sheet and str(sheet) else None
    try:
        found = run(ckpt, shards, queries, top, picture, batch_size, workers, progress)
    except USER_ERRORS as e:
        raise fail(e) from e
    for query, hits in zip(queries, found, strict=True):
        if as_json:
            typer.echo(json.dumps({"query": query, "clips": hits}))
            continue
        say(query)
        for h in hits:
            where = f"  {h['shard']}  {h['video_id']} {h['start_s']:.1f}-{h['end_s']:.1f}s" if "shard" in h else ""
            say(f"  {h['score']:.3f}  {h['clip_key']}{where}")
    if picture is not None:
        typer.echo(f"contact sheet: {picture}", err=as_json)


def predict(
    videos: Annotated[list[Path], typer.Argument(help="Video files.")],
    ckpt: Ckpt,
    topk: Annotated[int, typer.Option(help="Classes to show per video.")] = 5,
    clips: Annotated[int, typer.Option(help="Temporal views per video.")] = 5,
    crops: Annotated[int, typer.Option(help="Spatial crops per view.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per video instead of a table.")] = False,
    labels: Annotated[Path | None, typer.Option(help="Class names, one per line (for a released file).")] = None,
    model: Model = None,
    decoder: Decoder = None,
    decode_device: DecodeDevice = None,
) -> None:
    """Classify video files: the top classes with their probabilities (softmax averaged over
    clips × crops)."""
    from trainer.errors import USER_ERRORS
    from trainer.eval.predict import predict_files

    failed = 0
    try:
        for row in predict_files(videos, ckpt, topk, clips, crops, labels, model, decoder, decode_device):
            if "error" in row:
                failed += 1
                typer.echo(json.dumps(row) if as_json else f"error: {row['error']}", err=not as_json)
            elif as_json:
                typer.echo(json.dumps(row))
            else:
                typer.echo(row["video"])
                for r in row["top"]:
                    typer.echo(f"  {r['prob']:.4f}  {r['class']}")
    except USER_ERRORS as e:
        raise fail(e) from e
    if failed:
        raise typer.Exit(1)


def embed(
    shards: Annotated[list[str], typer.Option(help="Corpus folder or URL pattern; repeat.")],
    ckpt: Ckpt,
    out: Annotated[Path, typer.Option(help="Parquet file to write: clip_key, embedding.")],
    clips: Annotated[int, typer.Option(help="Temporal views averaged per video.")] = 1,
    crops: Annotated[int, typer.Option(help="Spatial crops averaged per view.")] = 1,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out.")] = False,
    batch_size: Annotated[int, typer.Option(help="Videos per batch.")] = 8,
    workers: Workers = None,
    model: Model = None,
    decoder: Decoder = None,
    decode_device: DecodeDevice = None,
    text: Annotated[bool, typer.Option("--text", help="A video-language checkpoint: embed the corpus' captions "
                                                      "(one row per caption) instead of its clips.")] = False,
    progress: Progress = True,
) -> None:
    """One feature vector per clip, for retrieval, linear probes or dedup: the encoder's tokens
    pooled and normalized (averaged over views) for classifiers and pretraining checkpoints; the
    shared video-text space's embedding for a vlpretrain checkpoint (--text: its captions')."""
    from trainer.errors import USER_ERRORS
    from trainer.eval.embed import embed_corpus

    if out.exists() and not overwrite:
        raise fail(ValueError(f"{out} exists; give another --out or --overwrite"))
    try:
        with machine_faults("embed", out):
            result = embed_corpus(shards, ckpt, out, clips, crops, batch_size, workers, model, progress, decoder,
                                  decode_device, text)
    except USER_ERRORS as e:
        raise fail(e) from e
    typer.echo(f"{len(result.keys)} embeddings of {result.values.shape[1]} values → {out}"
               + (f"; {len(result.failed)} clips could not be decoded" if result.failed else ""))
    if result.failed:
        typer.echo(f"undecodable, e.g.: {', '.join(result.failed[:10])}", err=True)
