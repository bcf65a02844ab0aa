"""The pretraining loader against its limit, for each decoder backend, and the backends against
each other.

    python bench/loader.py [--quick]

Builds a corpus of synthetic clips, then in one run measures clips/s per worker of (a) the
whole vmae pipeline: tar streaming, shuffle buffer, decode from memory, frame sampling,
multi-scale crop and resize, normalization, dual masks, collation; and (b) a plain loop that
calls the same decoder library directly on the same clips as mp4 files on disk and applies the
same crop and resize (the limit). Per backend, ratio = (a) / (b), target ≥ 0.9. Then torchcodec's
plain loop against decord's: the speed-up of the default backend. Every side runs in turns over
--rounds rounds (trainer/bench/turns.py) and reports its median and spread, so that a busy moment
of the machine does not decide a ratio, and a ratio whose sides spread too widely says so.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import decord
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus.build import build  # noqa: E402
from corpus.config import configure_build  # noqa: E402
from corpus.synthetic import make_video  # noqa: E402
from trainer.bench.turns import Rounds, in_turns, ratio_note  # noqa: E402
from trainer.data.augment import crop_resize, multiscale_crop  # noqa: E402
from trainer.data.config import DataConfig  # noqa: E402
from trainer.data.sampling import dense_indices  # noqa: E402
from trainer.data.shards import resolve_shards  # noqa: E402
from trainer.data.stream import make_loader  # noqa: E402

TARGET = 0.9
BACKENDS = ("torchcodec", "decord")


def make_corpus(root: Path, clips: int) -> Path:
    for k in range(clips):
        make_video(root / "src" / f"v{k:03d}.mp4", pattern=f"scene{k}", seconds=4, width=480, height=270, fps=25)
    build(configure_build({"source": "movies", "inputs": [root / "src"], "out": root / "c", "workers": os.cpu_count(),
                           "clip_seconds": 4, "short_side": 320, "shard_bytes": 20_000_000}), progress=False)
    return root / "c"


def plain_files(corpus: Path, folder: Path) -> list[Path]:
    folder.mkdir()
    for tar in sorted((corpus / "tars").glob("*.tar")):
        with tarfile.open(tar) as t:
            for m in t.getmembers():
                if m.name.endswith(".mp4"):
                    (folder / m.name).write_bytes(t.extractfile(m).read())
    return sorted(folder.glob("*.mp4"))


def run_plain(files: list[Path], cfg: DataConfig, count: int) -> float:
    """One core, as a loader worker has (DataLoader workers run torch single-threaded)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _plain(files, cfg, count)
    finally:
        torch.set_num_threads(threads)


def _decode_plain(path: Path, cfg: DataConfig, rng: np.random.Generator) -> np.ndarray:
    """The library's own calls, as a script that uses it directly would make them."""
    if cfg.decoder == "decord":
        vr = decord.VideoReader(str(path), num_threads=cfg.decode_threads)
        return vr.get_batch(dense_indices(len(vr), cfg.frames, cfg.stride, rng).tolist()).asnumpy()
    from torchcodec.decoders import VideoDecoder

    dec = VideoDecoder(str(path), seek_mode="approximate", dimension_order="NHWC",
                       num_ffmpeg_threads=cfg.decode_threads)
    idx = dense_indices(dec.metadata.num_frames, cfg.frames, cfg.stride, rng)
    return dec.get_frames_at(idx.tolist()).data.numpy()


def _plain(files: list[Path], cfg: DataConfig, count: int) -> float:
    rng = np.random.default_rng(0)
    _decode_plain(files[0], cfg, rng)  # the library's first call (loading FFmpeg) is start-up, as for the loader
    start = time.perf_counter()
    for k in range(count):
        frames = _decode_plain(files[k % len(files)], cfg, rng)
        crop_resize(frames, multiscale_crop(frames.shape[1], frames.shape[2], rng), cfg.img_size)
    return count / (time.perf_counter() - start)


def run_vmae(corpus: Path, cfg: DataConfig, count: int, batch: int) -> float:
    urls, _ = resolve_shards([str(corpus)])
    loader = iter(make_loader(urls, cfg, batch))
    next(loader)  # start-up of the worker is not part of steady-state throughput
    start = time.perf_counter()
    for _ in range(count // batch):
        next(loader)
    return (count // batch) * batch / (time.perf_counter() - start)


def _rate(rounds: Rounds) -> str:
    return rounds.describe("clips/s", 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer clips and steps")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of every side, in turns")
    args = ap.parse_args()
    clips, count = (8, 48) if args.quick else (24, 192)
    base = DataConfig(frames=16, stride=4, img_size=224, workers=1, shuffle_buffer=16)  # one worker each side
    with tempfile.TemporaryDirectory(prefix="vmae-loader-") as tmp:
        corpus = make_corpus(Path(tmp), clips)
        files = plain_files(corpus, Path(tmp) / "plain")

        def measure(side: str) -> float:
            how, backend = side.split(" ")
            cfg = dataclasses.replace(base, decoder=backend)
            return run_plain(files, cfg, count) if how == "plain" else run_vmae(corpus, cfg, count, batch=8)

        got = in_turns(measure, [f"{how} {b}" for b in BACKENDS for how in ("plain", "vmae")], args.rounds)
    plain = {b: got[f"plain {b}"] for b in BACKENDS}
    ours = {b: got[f"vmae {b}"] for b in BACKENDS}
    ratios = {b: ours[b].median / plain[b].median for b in BACKENDS}
    speedup = plain["torchcodec"].median / plain["decord"].median
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"\n{clips} clips of 4 s at 480x270 (short side 320 after the build), 16 frames at stride 4, crop to 224; "
          f"medians of {args.rounds} rounds in turns\n")
    print("| figure | ours | baseline | ratio | target | machine |")
    print("|---|---|---|---|---|---|")
    for b in BACKENDS:
        print(f"| loader clips/s per worker, {b} (baseline: plain {b} loop) | {_rate(ours[b])} | {_rate(plain[b])} | "
              f"{ratios[b]:.3f}{ratio_note(ours[b], plain[b])} | {TARGET} | {machine} |")
    print(f"| plain decode clips/s, torchcodec (baseline: decord) | {_rate(plain['torchcodec'])} | "
          f"{_rate(plain['decord'])} | {speedup:.3f}{ratio_note(plain['torchcodec'], plain['decord'])} | – | "
          f"{machine} |")
    for b in BACKENDS:
        print(f"RESULT loader_{b} ratio={ratios[b]:.3f} target={TARGET} figure=\"loader clips/s per worker, {b}\" "
              f"ours=\"{_rate(ours[b])}\" "
              f"baseline=\"{_rate(plain[b])} (plain {b} loop)\"")
    print(f"RESULT decoder_torchcodec_vs_decord ratio={speedup:.3f} target=1.0 figure=\"plain decode clips/s, "
          f"torchcodec\" ours=\"{_rate(plain['torchcodec'])}\" "
          f"baseline=\"{_rate(plain['decord'])} (decord)\"")


if __name__ == "__main__":
    main()
