"""Fixtures: tiny videos made by ffmpeg's lavfi sources, served by a real HTTP server on
127.0.0.1. Nothing is downloaded from anywhere else."""

from __future__ import annotations

import shutil
from pathlib import Path

import ffmpeg
import pytest

from corpus.dedup.run import dedup
from corpus.localserve import serve_folder
from corpus.steps.filters import parse_filter
from corpus.synthetic import DIRECTIONS, make_video
from tests.helpers import build_corpus, motion_corpus
from tests.http_server import FaultyHandler

KINETICS_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "kinetics"


@pytest.fixture(scope="session")
def videos(tmp_path_factory) -> Path:
    """A folder of small test videos, including broken ones."""
    d = tmp_path_factory.mktemp("videos")
    make_video(d / "a.mp4", pattern="testsrc2", seconds=3, width=320, height=240, fps=25)
    make_video(d / "b.mp4", pattern="scroll", seconds=2, width=180, height=320, fps=30)  # portrait
    make_video(d / "c.mp4", pattern="life", seconds=3, width=256, height=144, fps=20, audio=True)
    make_video(d / "long.mp4", pattern="bars", seconds=12, width=320, height=180, fps=25)
    # No +faststart: the index is at the end, so the first half is unreadable.
    data = (d / "a.mp4").read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (d / "garbage.mp4").write_bytes(b"this is not a video\n" * 500)
    (d / "empty.mp4").write_bytes(b"")
    return d


@pytest.fixture(scope="session")
def server(videos) -> str:
    with serve_folder(videos, FaultyHandler) as base:
        yield base


@pytest.fixture(scope="session")
def tiny_unlabeled(tmp_path_factory) -> Path:
    """A tiny unlabeled corpus (6 clips of 15 frames at 64 px, 3 shards) for training tests."""
    d = tmp_path_factory.mktemp("train")
    for k in range(6):
        make_video(d / "src" / f"v{k}.mp4", pattern=f"scene{40 + k}", seconds=3, width=160, height=96, fps=10)
    build_corpus(d / "c", "movies", [d / "src"], clip={"clip_seconds": 1.5, "short_side": 64}, shard_bytes=45_000)
    return d / "c"


@pytest.fixture(scope="session")
def viewed_corpus(tmp_path_factory, videos) -> Path:
    """A movies corpus the viewer tests look at: three videos, a re-encoded copy of one (dropped
    by dedup), a still picture held for 3 s (dropped by the frozen filter) and a file that is not
    a video (a failed row); 1.5 s clips."""
    d = tmp_path_factory.mktemp("view")
    src = d / "src"
    src.mkdir()
    for name in ("a", "b", "c"):
        shutil.copy(videos / f"{name}.mp4", src / f"{name}.mp4")
    ffmpeg.input(str(videos / "a.mp4")).output(str(src / "a_copy.mp4"), vcodec="libx264", crf=34,
                                                pix_fmt="yuv420p").run(quiet=True)
    ffmpeg.input(str(videos / "c.mp4")).output(str(src / "still.mp4"), vcodec="libx264", pix_fmt="yuv420p",
                                               vf="select='eq(n\\,0)',loop=loop=100:size=1,setpts=N/25/TB",
                                               t=3).run(quiet=True)
    shutil.copy(videos / "garbage.mp4", src / "broken.mp4")
    build_corpus(d / "c", "movies", [src], clip={"short_side": 96, "clip_seconds": 1.5},
                 filters=(parse_filter("frozen"),))
    dedup([d / "c"])
    return d / "c"


@pytest.fixture()
def kinetics_data() -> Path:
    if not (KINETICS_DATA / "kinetics-400_val.csv").is_file():
        pytest.skip(f"the reference Kinetics CSVs are not at {KINETICS_DATA} (they ship beside CI's checkout, "
                    "not with a clone)")
    return KINETICS_DATA


@pytest.fixture()
def movie_dir(tmp_path, videos) -> Path:
    d = tmp_path / "movies"
    d.mkdir()
    shutil.copy(videos / "long.mp4", d / "film.mp4")
    return d


@pytest.fixture(scope="session")
def motion_corpora(tmp_path_factory) -> dict[str, Path]:
    """Two small labeled corpora of scrolling scenes: 'six' directions (like K710) and 'four' of them
    (like K400, in another class order)."""
    root = tmp_path_factory.mktemp("labeled")
    six = motion_corpus(root, "six", list(DIRECTIONS), 2, seed=300)
    four = motion_corpus(root, "four", ["moving up", "moving right", "moving left", "moving down"], 2, seed=400)
    return {"six": six, "four": four}
