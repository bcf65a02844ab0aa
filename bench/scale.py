"""Corpus commands at the sizes of UMT's 25M recipe and beyond: memory and time as the corpus grows.

    python bench/scale.py [--quick] [--clips N ...]

Writes, for each size N, the tables of six corpora as a build writes them (clips/ with keys,
shards, sizes, captions, quality scores and all 112 signature hashes; dedup/ with 5% of the clips
dropped), with as many clips as UMT's 25M recipe asks of each source at that size plus a tenth,
and no video (planning a mix reads tables only). Then, in a fresh child process each, it runs
what `vmae corpus mix --plan-only` runs on them with the built-in `umt_25m` recipe scaled to N
clips: reading the tables, dedup's verdicts, sampling, interleaving, output keys, shards, the
digest, and the plan's files. Each command's peak memory (its process' maximum resident set) and
wall time are printed per size, with the growth exponent between sizes (1 is linear) and the
figures extrapolated to 250M clips from the largest two sizes.

Targets (issue 34): planning a 25M mix within 4 GB. The last line reads
`RESULT clips=N mix_plan_gb=... mix_plan_s=...` for the largest N.
Default sizes 1.35M, 5M and 25M (the 25M tables take ~4 GB of disk and ~15 minutes to write
on 2 cores); --quick: 0.2M and 1M.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus.synthetic_tables import make_corpus_tables  # noqa: E402
from manifests.recipe import load_recipe  # noqa: E402

RECIPE = "umt_25m"
TARGET_PLAN_GB = 4.0
SPARE = 1.1  # each corpus holds a tenth more clips than its quota: sampling has a choice


def make_corpora(folder: Path, clips: int) -> tuple[dict[str, str], float]:
    """The recipe's sources at `clips` clips in all; returns (source -> folder, the recipe's scale)."""
    recipe = load_recipe(RECIPE)
    scale = clips / sum(recipe.quotas.values())
    inputs = {}
    for k, (name, quota) in enumerate(recipe.scaled(scale).items()):
        inputs[name] = str(folder / name)
        make_corpus_tables(folder / name, name, max(1, math.ceil(quota * SPARE)), k)
    return inputs, scale


def plan_in_child(inputs: dict[str, str], scale: float, out: str, answer) -> None:
    """What `vmae corpus mix --plan-only` runs; sends (seconds, peak GB, planned clips)."""
    from corpus.mix.run import MixOptions, mix

    start = time.perf_counter()
    summary = mix(MixOptions(recipe=RECIPE, inputs=inputs, out=out, scale=scale, plan_only=True), progress=False)
    seconds = time.perf_counter() - start
    answer.send((seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, summary["planned_clips"]))


def measure(target, *args) -> tuple:
    """Run `target(*args, pipe)` in a fresh process (its peak is its own) and return what it sent."""
    ctx = mp.get_context("spawn")
    mine, theirs = ctx.Pipe()
    child = ctx.Process(target=target, args=(*args, theirs))
    child.start()
    child.join()
    if child.exitcode:
        raise SystemExit(f"{target.__name__} failed (exit {child.exitcode})")
    return mine.recv()


def exponent(a: tuple[int, float], b: tuple[int, float]) -> float:
    """How a figure grows between two sizes: 1 is linear, 2 quadratic."""
    return math.log(b[1] / a[1]) / math.log(b[0] / a[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="0.2M and 1M clips")
    ap.add_argument("--clips", type=int, nargs="+", help="sizes to run (default 1.35M 5M 25M)")
    ap.add_argument("--keep", help="write the corpora under this folder and keep them (reused when there)")
    args = ap.parse_args()
    sizes = sorted(args.clips or ([200_000, 1_000_000] if args.quick else [1_350_000, 5_000_000, 25_000_000]))
    rows = []
    with tempfile.TemporaryDirectory(prefix="vmae-scale-") as tmp:
        base = Path(args.keep or tmp)
        for n in sizes:
            folder = base / f"n{n}"
            made = time.perf_counter()
            if not (folder / "inputs.json").is_file():
                shutil.rmtree(folder, ignore_errors=True)
                inputs, scale = measure(_make, folder, n)
                (folder / "inputs.json").write_text(json.dumps([inputs, scale]))
            inputs, scale = json.loads((folder / "inputs.json").read_text())
            made = time.perf_counter() - made
            shutil.rmtree(folder / "mix", ignore_errors=True)
            seconds, gb, planned = measure(plan_in_child, inputs, scale, str(folder / "mix"))
            shutil.rmtree(folder / "mix", ignore_errors=True)
            print(f"{n:,} clips: tables written in {made:.0f} s; planned {planned:,} clips in {seconds:.1f} s, "
                  f"peak {gb:.2f} GB", flush=True)
            rows.append((n, seconds, gb))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"\n`vmae corpus mix --plan-only`, recipe {RECIPE} scaled to each size; {machine}\n")
    print("| clips | plan wall time | plan peak memory | time exponent | memory exponent |")
    print("|---|---|---|---|---|")
    for k, (n, seconds, gb) in enumerate(rows):
        grow = ("", "") if k == 0 else (f"{exponent((rows[k - 1][0], rows[k - 1][1]), (n, seconds)):.2f}",
                                         f"{exponent((rows[k - 1][0], rows[k - 1][2]), (n, gb)):.2f}")
        print(f"| {n:,} | {seconds:.1f} s | {gb:.2f} GB | {grow[0]} | {grow[1]} |")
    if len(rows) > 1:
        (n0, s0, g0), (n1, s1, g1) = rows[-2], rows[-1]
        far = 250_000_000
        print(f"| 250,000,000 (extrapolated) | {s1 * (far / n1) ** exponent((n0, s0), (n1, s1)):.0f} s | "
              f"{g1 * (far / n1) ** exponent((n0, g0), (n1, g1)):.1f} GB | | |")
    n, seconds, gb = rows[-1]
    held = "holds" if gb <= TARGET_PLAN_GB else "does not hold"
    print(f"\nplanning within {TARGET_PLAN_GB:g} GB at {n:,} clips: {held}")
    print(f"RESULT clips={n} mix_plan_gb={gb:.2f} mix_plan_s={seconds:.1f}")


def _make(folder: Path, n: int, answer) -> None:
    answer.send(make_corpora(folder, n))


if __name__ == "__main__":
    main()
