"""`vmae demo`: the main job on a laptop, end to end on synthetic data."""

from __future__ import annotations

import csv
import shutil
import time
from pathlib import Path
from typing import Annotated

import ffmpeg
import typer

from cli.corpus import print_summary
from corpus.build import build
from corpus.dedup.run import dedup
from corpus.localserve import serve_folder
from corpus.mix import MixOptions, mix
from corpus.options import BuildOptions, ClipOptions
from corpus.report import report
from corpus.synthetic import PATTERNS, make_video
from manifests.validate import validate
from trainer.config import build_config
from trainer.pretrain import pretrain

DEMO_RECIPE = """\
# The demo's hybrid: every web clip and movie window that survives dedup, labels dropped.
name: demo_hybrid
keep_labels: false
sources:
  web:    {quota: 8}
  movies: {quota: 8}
"""


def _videos(root: Path) -> tuple[list[Path], list[Path]]:
    """Short web videos (one per pattern, plus an exact copy and a re-encoded copy of one of
    them, for dedup to find) and two long 'movies'; kept between runs."""
    web = [root / "web" / f"{name}.mp4" for name in PATTERNS]
    movies = [root / "movies" / "movie_a.mp4", root / "movies" / "movie_b.mp4"]
    for i, p in enumerate(web):
        if not p.exists():
            make_video(p, pattern=p.stem, seconds=4 + i % 3, width=480, height=270)
    copy, reencoded = root / "web" / "testsrc2_copy.mp4", root / "web" / "testsrc2_small.mp4"
    if not copy.exists():
        shutil.copy(web[0], copy)
    if not reencoded.exists():
        ffmpeg.input(str(web[0])).output(str(reencoded), vf="scale=320:180", crf=34, vcodec="libx264",
                                         pix_fmt="yuv420p").overwrite_output().run(quiet=True)
    for p, pattern in zip(movies, ("scene1", "mandelbrot"), strict=True):
        if not p.exists():
            make_video(p, pattern=pattern, seconds=24, width=640, height=360)
    return [*web, copy, reencoded], movies


def _check(out: Path) -> None:
    result = validate(out)
    if not result.ok:
        raise typer.Exit(f"validation failed for {out}: {result.problems}")
    typer.secho(f"validated {out}: " + ", ".join(f"{v} {k}" for k, v in result.checked.items()), fg="green")


def _heading(text: str) -> None:
    typer.secho(f"\n== {text}", bold=True)


def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's videos and corpora.")] = Path("demo-output"),
    workers: Annotated[int, typer.Option(help="Parallel worker processes.")] = 2,
) -> None:
    """Make synthetic videos, serve them on 127.0.0.1, build a web corpus and a movies corpus,
    deduplicate them, mix them into a hybrid, validate everything, draw a report, and pretrain
    a tiny model on the hybrid."""
    start = time.time()
    web, movies = _videos(out / "videos")
    corpora = out / "corpora"
    shutil.rmtree(corpora, ignore_errors=True)
    with serve_folder(out / "videos" / "web") as base:
        url_list = out / "web.csv"
        with open(url_list, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["videoid", "contentUrl", "name"])
            for p in web:
                w.writerow([p.stem, f"{base}/{p.name}", f"a synthetic {p.stem} pattern"])
            w.writerow(["missing", f"{base}/no-such-video.mp4", "a link that has gone away"])
        _heading("web source: a WebVid-style URL list served on 127.0.0.1")
        print_summary(build(BuildOptions(source="web", inputs=(str(url_list),), out=str(corpora / "web"),
                                         workers=workers, shard_bytes=2_000_000, unit_size=4,
                                         clip=ClipOptions(short_side=160))))
    _check(corpora / "web")
    _heading("movies source: long videos cut into 5 s windows")
    print_summary(build(BuildOptions(source="movies", inputs=tuple(str(p) for p in movies),
                                     out=str(corpora / "movies"), workers=workers, shard_bytes=2_000_000,
                                     clip=ClipOptions(short_side=160, clip_seconds=5.0))))
    _check(corpora / "movies")
    _heading("dedup across both corpora (an exact copy and a re-encoded copy were planted)")
    for r in dedup([corpora / "web", corpora / "movies"]):
        typer.echo(f"{r.corpus}: {r.items} clips, dropped {r.dropped or 'none'}")
    _heading("mix into a hybrid by a recipe")
    recipe = out / "demo_hybrid.yaml"
    recipe.write_text(DEMO_RECIPE)
    summary = mix(MixOptions(recipe=str(recipe), inputs={"web": str(corpora / "web"),
                                                          "movies": str(corpora / "movies")},
                             out=str(corpora / "hybrid"), shard_bytes=1_000_000))
    for name, r in summary["mix"].items():
        typer.echo(f"{name:<8} quota {r['quota']}  selected {r['selected']}  shortfall {r['shortfall']}")
    print_summary(summary)
    _check(corpora / "hybrid")
    png, page = report([corpora / "web", corpora / "movies", corpora / "hybrid"], out / "report.png")
    typer.echo(f"\nreport: {png} ({page})")
    _heading("stage 1: pretrain a tiny video ViT with dual masking on the hybrid")
    run = out / "runs" / "pretrain"
    shutil.rmtree(run, ignore_errors=True)
    result = pretrain(build_config({
        "shards": [str(corpora / "hybrid")], "out": str(run), "model": "vit_test", "steps": 60, "batch_size": 4,
        "lr": 2e-3, "ckpt_every": 30, "data": {"frames": 8, "stride": 2, "img_size": 64, "workers": workers,
                                                 "shuffle_buffer": 8, "encoder_mask": 0.75}}))
    typer.echo(f"pretrained {result['steps']} steps, last loss {result['final_loss']:.3f}; curve: {run / 'loss.png'}")
    typer.echo(f"demo finished in {time.time() - start:.0f} s; try: vmae corpus status {corpora / 'hybrid'}")
