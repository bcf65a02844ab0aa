"""The demo's data: synthetic videos whose class only motion tells (scenes scrolling in one of six
directions), built into corpora through the web source (served on 127.0.0.1) and the movies
source, the way a user builds real ones."""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from pathlib import Path

import ffmpeg
import numpy as np

from cli.corpus import print_summary
from corpus.build import build
from corpus.localserve import serve_folder
from corpus.options import BuildOptions, ClipOptions
from corpus.synthetic import DIRECTIONS, make_video

SIZE = {"width": 112, "height": 84, "fps": 25}
SCROLL = 0.02  # share of the picture per frame
TARGET_CLASSES = ["moving right", "moving left", "moving down", "moving up"]  # the stage-3 task


@dataclass(frozen=True)
class Clip:
    name: str  # file stem
    seed: int
    direction: str | None  # None: label withheld (unlabeled corpora)
    scroll_as: str  # the direction it actually scrolls


def _make(path: Path, seed: int, direction: str, seconds: float = 3.0) -> Path:
    if not path.exists():
        dx, dy = DIRECTIONS[direction]
        make_video(path, pattern=f"scene{seed}", seconds=seconds, scroll=(dx * SCROLL, dy * SCROLL), extra_boxes=12,
                   crf=26, **SIZE)
    return path


def plan(per_class: dict[str, int]) -> dict[str, list[Clip]]:
    """Which videos go where. Seeds never repeat across sets, so test scenes are unseen."""
    rng = np.random.default_rng(0)
    sets: dict[str, list[Clip]] = {}
    seed = 0
    for name, count in per_class.items():
        classes = TARGET_CLASSES if name.startswith("target") else list(DIRECTIONS)
        clips = []
        for k in range(count * len(classes)):
            direction = classes[k % len(classes)] if name != "unlabeled" else str(rng.choice(list(DIRECTIONS)))
            clips.append(Clip(f"{name}_{k:04d}", 10_000 + seed, None if name == "unlabeled" else direction, direction))
            seed += 1
        sets[name] = clips
    return sets


def make_videos(root: Path, sets: dict[str, list[Clip]]) -> None:
    for clips in sets.values():
        for c in clips:
            _make(root / "web" / f"{c.name}.mp4", c.seed, c.scroll_as)
    # planted duplicates for dedup to find: an exact copy and a re-encoded copy of a labeled video
    # inside the unlabeled list
    original = root / "web" / f"{sets['pool_a'][0].name}.mp4"
    exact, small = root / "web" / "unlabeled_copy.mp4", root / "web" / "unlabeled_reencoded.mp4"
    if not exact.exists():
        shutil.copy(original, exact)
    if not small.exists():
        ffmpeg.input(str(original)).output(str(small), vf="scale=96:72", crf=34, vcodec="libx264",
                                           pix_fmt="yuv420p").overwrite_output().run(quiet=True)
    for k, direction in enumerate(("moving left", "moving up", "moving down-right")):  # long "films"
        _make(root / "movies" / f"film_{k}.mp4", 90_000 + k, direction, seconds=15.0)


def build_web(out: Path, name: str, clips: list[Clip], videos: Path, workers: int, extra: list[str] = ()) -> dict:
    """A WebVid-style URL list (label column when the clips have labels) → `vmae corpus build`."""
    labeled = any(c.direction for c in clips)
    with serve_folder(videos / "web") as base:
        url_list = out.parent / f"{name}.csv"
        url_list.parent.mkdir(parents=True, exist_ok=True)
        with open(url_list, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["videoid", "contentUrl", "name"] + (["label"] if labeled else []))
            for c in clips:
                w.writerow([c.name, f"{base}/{c.name}.mp4", f"a synthetic scene ({c.scroll_as})"]
                           + ([c.direction] if labeled else []))
            for stem in extra:
                w.writerow([stem, f"{base}/{stem}.mp4", "a planted copy"] + ([""] if labeled else []))
        summary = build(BuildOptions(source="web", inputs=(str(url_list),), out=str(out), workers=workers,
                                     shard_bytes=1_000_000, unit_size=32, clip=ClipOptions(short_side=64)),
                        progress=False)
    print_summary(summary)
    return summary


def build_movies(out: Path, videos: Path, workers: int) -> dict:
    summary = build(BuildOptions(source="movies", inputs=(str(videos / "movies"),), out=str(out), workers=workers,
                                 shard_bytes=1_000_000, clip=ClipOptions(short_side=64, clip_seconds=3.0)),
                    progress=False)
    print_summary(summary)
    return summary
