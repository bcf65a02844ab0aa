"""Manifests at Kinetics scale: plan a K400-sized build, then read its videos/ table with pandas.

    python bench/manifest_scale.py [--quick] [--rows N]

Writes an annotation CSV of N synthetic Kinetics rows (400 classes, train split, 10 s ranges;
650,000 rows by default, 50,000 with --quick), plans a corpus from it with `vmae corpus build
--plan-only` in a subprocess (its wall time and peak memory are its own), then reads DIR/videos
with pandas and, in the same run, the same rows written as one Parquet file (the baseline: the
fastest a table of these rows can be read). Ratio = one file's read time / ours (best of 5, read in turn);
target ≥ 0.7. Also reports the files in videos/ and their bytes against the one file's.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET = 0.7


def write_csv(path: Path, rows: int) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["label", "youtube_id", "time_start", "time_end", "split"])
        for i in range(rows):
            start = (i * 7) % 290
            w.writerow([f"class {i % 400:03d}", f"yt{i:09d}", start, start + 10, "train"])


def plan(csv_path: Path, out: Path) -> dict:
    """In this process: the plan-only build, timed, with the process' peak memory."""
    from corpus.build import build
    from corpus.options import BuildOptions

    start = time.perf_counter()
    build(BuildOptions(source="kinetics", inputs=(str(csv_path),), out=str(out)), plan_only=True, progress=False)
    return {"seconds": time.perf_counter() - start,
            "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2}


def best_reads(paths: list[Path], rounds: int = 5) -> list[tuple[float, int]]:
    """Best read time of each path, reading them in turn for `rounds` rounds (so that both meet
    the same cache and memory conditions)."""
    best = [float("inf")] * len(paths)
    counts = [0] * len(paths)
    for _ in range(rounds):
        for i, path in enumerate(paths):
            start = time.perf_counter()
            counts[i] = len(pd.read_parquet(path))
            best[i] = min(best[i], time.perf_counter() - start)
    return list(zip(best, counts, strict=True))


def size_of(path: Path) -> tuple[int, int]:
    files = [p for p in Path(path).rglob("*.parquet") if not p.name.startswith(".")]
    return len(files), sum(p.stat().st_size for p in files)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="50,000 rows")
    ap.add_argument("--rows", type=int, help="rows to plan (default 650,000)")
    ap.add_argument("--plan", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.plan:
        print(json.dumps(plan(Path(args.plan[0]), Path(args.plan[1]))))
        return
    rows = args.rows or (50_000 if args.quick else 650_000)
    with tempfile.TemporaryDirectory(prefix="vmae-manifest-") as tmp:
        tmp = Path(tmp)
        write_csv(tmp / "kinetics-400_train.csv", rows)
        done = subprocess.run([sys.executable, __file__, "--plan", str(tmp / "kinetics-400_train.csv"),
                               str(tmp / "corpus")], capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"planning failed: {done.stderr[-2000:]}")
        planned = json.loads(done.stdout.strip().splitlines()[-1])
        pd.read_parquet(tmp / "corpus" / "videos").to_parquet(tmp / "one.parquet", index=False)
        (ours, n), (baseline, n_one) = best_reads([tmp / "corpus" / "videos", tmp / "one.parquet"])
        assert n == n_one == rows, (n, n_one, rows)
        files, size = size_of(tmp / "corpus" / "videos")
        one_size = (tmp / "one.parquet").stat().st_size
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"\n{rows:,} planned Kinetics rows (plan-only build), read with pd.read_parquet\n")
    print("| figure | vmae videos/ | one Parquet file (baseline) | ratio | machine |")
    print("|---|---|---|---|---|")
    print(f"| read time | {ours:.2f} s | {baseline:.2f} s | {baseline / ours:.2f} | {machine} |")
    print(f"| files, bytes | {files:,} file{'s' * (files != 1)}, {size / 1e6:.1f} MB | 1 file, {one_size / 1e6:.1f} MB"
          " | | |")
    print(f"| plan time, peak memory (whole process) | {planned['seconds']:.1f} s, {planned['peak_gb']:.2f} GB | | | |")
    print(f"RESULT manifest_scale ratio={baseline / ours:.2f} target={TARGET} "
          f"figure=\"read {rows:,} manifest rows\" ours=\"{ours:.2f} s\" "
          f"baseline=\"{baseline:.2f} s (one Parquet file)\"")


if __name__ == "__main__":
    main()
