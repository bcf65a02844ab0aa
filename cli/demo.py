"""`vmae demo`: the main job on a laptop, end to end on synthetic data."""

from __future__ import annotations

import csv
import shutil
import time
from pathlib import Path
from typing import Annotated

import typer

from cli.corpus import print_summary
from corpus.build import build
from corpus.localserve import serve_folder
from corpus.options import BuildOptions, ClipOptions
from corpus.synthetic import PATTERNS, make_video
from manifests.validate import validate


def _videos(root: Path) -> tuple[list[Path], list[Path]]:
    """Short web videos (one per pattern) and two long 'movies'; kept between runs."""
    web = [root / "web" / f"{name}.mp4" for name in PATTERNS]
    movies = [root / "movies" / "movie_a.mp4", root / "movies" / "movie_b.mp4"]
    for i, p in enumerate(web):
        if not p.exists():
            make_video(p, pattern=p.stem, seconds=4 + i % 3, width=480, height=270)
    for p, pattern in zip(movies, ("testsrc2", "bars"), strict=True):
        if not p.exists():
            make_video(p, pattern=pattern, seconds=24, width=640, height=360)
    return web, movies


def _check(out: Path) -> None:
    report = validate(out)
    if not report.ok:
        raise typer.Exit(f"validation failed for {out}: {report.problems}")
    typer.secho(f"validated {out}: " + ", ".join(f"{v} {k}" for k, v in report.checked.items()), fg="green")


def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's videos and corpora.")] = Path("demo-output"),
    workers: Annotated[int, typer.Option(help="Parallel worker processes.")] = 2,
) -> None:
    """Make synthetic videos, serve them on 127.0.0.1, build a web corpus and a movies corpus,
    validate both and print their status."""
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
        typer.secho("\n== web source: a WebVid-style URL list served on 127.0.0.1", bold=True)
        web_sum = build(BuildOptions(source="web", inputs=(str(url_list),), out=str(corpora / "web"),
                                     workers=workers, shard_bytes=2_000_000, unit_size=4,
                                     clip=ClipOptions(short_side=160)))
    print_summary(web_sum)
    _check(corpora / "web")
    typer.secho("\n== movies source: long videos cut into 5 s windows", bold=True)
    mov_sum = build(BuildOptions(source="movies", inputs=tuple(str(p) for p in movies),
                                 out=str(corpora / "movies"), workers=workers, shard_bytes=2_000_000,
                                 clip=ClipOptions(short_side=160, clip_seconds=5.0)))
    print_summary(mov_sum)
    _check(corpora / "movies")
    typer.echo(f"\ndemo finished in {time.time() - start:.0f} s; try: vmae corpus status {corpora / 'web'}")
