"""The pretraining loader against its limit: decoding the same frames from plain mp4 files.

    python bench/loader.py [--quick]

Builds a corpus of synthetic clips, then in one run measures clips/s per worker of (a) the
whole vmae pipeline: tar streaming, shuffle buffer, decode with decord from memory, frame
sampling, multi-scale crop and resize, normalization, dual masks, collation; and (b) a plain
loop that decodes the same frames of the same clips from mp4 files on disk with decord and
applies the same crop and resize (the limit). Ratio = (a) / (b); target ≥ 0.9.
"""

from __future__ import annotations

import argparse
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
from corpus.options import BuildOptions, ClipOptions  # noqa: E402
from corpus.synthetic import make_video  # noqa: E402
from trainer.data.augment import crop_resize, multiscale_crop  # noqa: E402
from trainer.data.config import DataConfig  # noqa: E402
from trainer.data.sampling import dense_indices  # noqa: E402
from trainer.data.shards import resolve_shards  # noqa: E402
from trainer.data.stream import make_loader  # noqa: E402

TARGET = 0.9


def make_corpus(root: Path, clips: int) -> Path:
    for k in range(clips):
        make_video(root / "src" / f"v{k:03d}.mp4", pattern=f"scene{k}", seconds=4, width=480, height=270, fps=25)
    build(BuildOptions(source="movies", inputs=(str(root / "src"),), out=str(root / "c"), workers=os.cpu_count(),
                       clip=ClipOptions(clip_seconds=4, short_side=320), shard_bytes=20_000_000), progress=False)
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


def _plain(files: list[Path], cfg: DataConfig, count: int) -> float:
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for k in range(count):
        vr = decord.VideoReader(str(files[k % len(files)]), num_threads=cfg.decode_threads)
        frames = vr.get_batch(dense_indices(len(vr), cfg.frames, cfg.stride, rng).tolist()).asnumpy()
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer clips and steps")
    args = ap.parse_args()
    clips, count = (8, 48) if args.quick else (24, 192)
    cfg = DataConfig(frames=16, stride=4, img_size=224, workers=1, shuffle_buffer=16)  # one worker each side
    with tempfile.TemporaryDirectory(prefix="vmae-loader-") as tmp:
        corpus = make_corpus(Path(tmp), clips)
        files = plain_files(corpus, Path(tmp) / "plain")
        plain = run_plain(files, cfg, count)
        ours = run_vmae(corpus, cfg, count, batch=8)
    ratio = ours / plain
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"\n{clips} clips of 4 s at 480x270 (short side 320 after the build), 16 frames at stride 4, crop to 224\n")
    print("| figure | vmae loader (1 worker) | plain decord loop (limit) | ratio | machine |")
    print("|---|---|---|---|---|")
    print(f"| clips/s per worker | {ours:.1f} | {plain:.1f} | {ratio:.3f} | {machine} |")
    print(f"RESULT loader ratio={ratio:.3f} target={TARGET}")


if __name__ == "__main__":
    main()
