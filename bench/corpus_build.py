"""Corpus build throughput against its limit: plain ffmpeg processes doing the same cuts and
encodes in parallel, in the same run, on the same videos.

    python bench/corpus_build.py [--quick] [--videos N] [--workers W]

vmae fetches each video over HTTP from a loopback server, probes it, cuts and re-encodes it
(with the signature frames in the same pass), and packs tars with manifests. The baseline runs
`ffmpeg -ss … -t … -i FILE` with the same filter and encoder settings, W at a time, reading the
files from disk. Ratio = vmae clips/s ÷ ffmpeg clips/s (higher is better; target ≥ 0.85). Both
sides run in turns over --rounds rounds (ffmpeg first, so a warm page cache never favours vmae) and
report their median and spread (trainer/bench/turns.py).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus.build import build  # noqa: E402
from corpus.config import configure_build  # noqa: E402
from corpus.localserve import serve_folder  # noqa: E402
from corpus.media.encode import Encoding, target_size  # noqa: E402
from corpus.options import MediaOptions  # noqa: E402
from corpus.steps.clip import Clip, ClipOptions  # noqa: E402
from corpus.synthetic import PATTERNS, make_video  # noqa: E402
from trainer.bench.turns import in_turns, ratio_note  # noqa: E402

TARGET = 0.85
SECONDS, WIDTH, HEIGHT, FPS = 10, 640, 360, 25


def make_inputs(folder: Path, n: int) -> list[Path]:
    patterns = list(PATTERNS)
    paths = [folder / f"v{i:03d}.mp4" for i in range(n)]
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(lambda ip: make_video(ip[1], pattern=patterns[ip[0] % len(patterns)], seconds=SECONDS,
                                            width=WIDTH, height=HEIGHT, fps=FPS, crf=23), enumerate(paths)))
    return paths


def run_vmae(videos: list[Path], out: Path, workers: int, clip: Encoding) -> float:
    with serve_folder(videos[0].parent) as base:
        out.parent.mkdir(parents=True, exist_ok=True)
        lst = out.parent / "list.csv"
        with open(lst, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["videoid", "contentUrl"])
            w.writerows([[p.stem, f"{base}/{p.name}"] for p in videos])
        start = time.perf_counter()
        summary = build(configure_build({"source": "web", "inputs": [lst], "out": out, "workers": workers,
                                         "unit_size": max(1, len(videos) // (workers * 2))}),
                        progress=False)
        elapsed = time.perf_counter() - start
    assert summary["clips"] == len(videos), summary
    return elapsed


def run_ffmpeg(videos: list[Path], out: Path, workers: int, clip: Encoding) -> float:
    out.mkdir(parents=True, exist_ok=True)
    w, h = target_size(WIDTH, HEIGHT, clip.short_side)

    def one(p: Path) -> None:
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-ss", "0", "-t", str(SECONDS), "-i", str(p),
                        "-vf", f"scale={w}:{h},setsar=1", "-c:v", "libx264", "-preset", clip.preset,
                        "-crf", str(clip.crf), "-pix_fmt", "yuv420p", "-movflags", "+faststart", "-an",
                        str(out / p.name)], check=True)

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, videos))
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few videos: about a minute on 2 cores")
    ap.add_argument("--videos", type=int, default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="rounds of both sides, in turns")
    args = ap.parse_args()
    n = args.videos or (8 if args.quick else 32)
    clip = Clip(ClipOptions(), MediaOptions()).encoding  # the build's defaults
    with tempfile.TemporaryDirectory(prefix="vmae-bench-") as tmp:
        tmp = Path(tmp)
        videos = make_inputs(tmp / "videos", n)
        done = {"ffmpeg": 0, "vmae": 0}

        def measure(side: str) -> float:
            """Clips/s of one round, each into a fresh folder (a second build would resume)."""
            done[side] += 1
            out = tmp / f"{side}{done[side]}"
            seconds = run_ffmpeg(videos, out, args.workers, clip) if side == "ffmpeg" else run_vmae(
                videos, out / "corpus", args.workers, clip)
            shutil.rmtree(out, ignore_errors=True)
            return n / seconds

        got = in_turns(measure, ["ffmpeg", "vmae"], args.rounds)
    ours, base = got["vmae"], got["ffmpeg"]
    ratio = ours.median / base.median
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}"
    print(f"\n{n} videos of {SECONDS} s at {WIDTH}x{HEIGHT}, {args.workers} workers, "
          f"short side {clip.short_side}, x264 {clip.preset} crf {clip.crf}; medians of {args.rounds} rounds in "
          "turns\n")
    print("| figure | vmae corpus build | plain ffmpeg (limit) | ratio | machine |")
    print("|---|---|---|---|---|")
    print(f"| clips/s | {ours.describe('clips/s', 2)} | {base.describe('clips/s', 2)} | "
          f"{ratio:.3f}{ratio_note(ours, base)} | {machine} |")
    print(f"RESULT corpus_build ratio={ratio:.3f} target={TARGET} figure=\"corpus build, clips/s\" "
          f"ours=\"{ours.describe('clips/s', 2)}\" baseline=\"{base.describe('clips/s', 2)} (plain ffmpeg cuts)\"")


if __name__ == "__main__":
    main()
