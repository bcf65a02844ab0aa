"""Corpus commands at the sizes of UMT's 25M recipe and beyond: memory and time as the corpus grows.

    python bench/scale.py [--quick] [--clips N ...] [--only mix,dedup,semantic,view] [--keep DIR]

Writes, for each size N, the tables of six corpora as a build writes them (clips/ with keys,
shards, sizes, captions, quality scores and all 112 signature hashes, random as real ones are,
with 2% near copies; videos/; dedup/ with 5% of the clips dropped), with as many clips as UMT's
25M recipe asks of each source at that size plus a tenth, and no video (these commands read tables
only), plus each corpus' 512-wide float16 embeddings around 2,000 scenes. Then each command runs
in a fresh child process:

- mix: what `vmae corpus mix --plan-only` runs with the built-in `umt_25m` recipe scaled to N;
- dedup: `vmae corpus dedup` of the six corpora (exact and near copies), its search in one
  worker process per core;
- semantic: the same with `--embeddings` (the near pass, then K-means and the within-cluster
  search), after the dedup row;
- view: `vmae corpus view` on the largest corpus, asked for its slowest pages over HTTP (first
  page, one filtered by source and split, one sorted by a score, the last page).

Each row gives wall time and peak memory: the largest sum, sampled every 0.2 s, of the resident
sets of the command's process and its children (shared pages count once per process, so this
errs high). Per command, the growth exponent between sizes (1 is linear) and the figures
extrapolated to 250M clips from the largest two sizes.

Targets (issue 34) at 25M clips: mix plan ≤ 4 GB, dedup ≤ 6 GB, semantic ≤ 8 GB, viewer ≤ 2 GB
with every page under a second; the table says which hold at the largest size. The last line
reads `RESULT clips=N mix_plan_gb=… dedup_gb=… semantic_gb=… view_gb=… dedup_s=…` for the
largest N. Disk: about 2.2 GB of tables and embeddings per million clips, and as much again of
dedup's signature files while it runs. Default sizes 1.35M, 5M and 25M; --quick: 0.2M and 1M.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import multiprocessing as mp
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus.synthetic_tables import make_corpus_tables, make_embeddings  # noqa: E402
from manifests.recipe import load_recipe  # noqa: E402

RECIPE = "umt_25m"
TARGETS_GB = {"mix": 4.0, "dedup": 6.0, "semantic": 8.0, "view": 2.0}
PAGE_SECONDS = 1.0
DIM = 512
SPARE = 1.1  # each corpus holds a tenth more clips than its quota: sampling has a choice
PAGES = ("/c/0/clips", "/c/0/clips?source={source}&split=train", "/c/0/clips?sort=motion&desc=1",
         "/c/0/clips?page=99999999")


def make_corpora(folder: Path, clips: int, answer) -> None:
    """The recipe's sources at `clips` clips in all; sends (source -> folder, the recipe's scale)."""
    recipe = load_recipe(RECIPE)
    scale = clips / sum(recipe.quotas.values())
    inputs = {}
    for k, (name, quota) in enumerate(recipe.scaled(scale).items()):
        inputs[name] = str(folder / name)
        make_corpus_tables(folder / name, name, max(1, math.ceil(quota * SPARE)), k)
    answer.send((inputs, scale))


def make_all_embeddings(inputs: dict[str, str], answer) -> None:
    """Each corpus' embeddings beside it (only when semantic dedup is measured: 28 GB at 25M)."""
    for k, root in enumerate(inputs.values()):
        make_embeddings(Path(root), _embeddings_of(root), DIM, k)
    answer.send(None)


def _embeddings_of(root: str) -> Path:
    return Path(root).with_name(f"{Path(root).name}.embeddings.parquet")


def run_mix(inputs: dict[str, str], scale: float, out: str, answer) -> None:
    """What `vmae corpus mix --plan-only` runs; sends (seconds, what it planned)."""
    from corpus.mix.run import MixOptions, mix

    start = time.perf_counter()
    summary = mix(MixOptions(recipe=RECIPE, inputs=inputs, out=out, scale=scale, plan_only=True), progress=False)
    answer.send((time.perf_counter() - start, f"{summary['planned_clips']:,} clips planned"))


def run_dedup(inputs: dict[str, str], embeddings: list[str], answer) -> None:
    """`vmae corpus dedup` of every corpus (with --embeddings when given); sends (seconds, what it dropped)."""
    from corpus.dedup.by_embedding import SemanticOptions
    from corpus.dedup.run import dedup
    from corpus.executors import local_executor

    start = time.perf_counter()
    results = dedup(list(inputs.values()), executor=local_executor(os.cpu_count() or 1),
                    semantic=SemanticOptions(embeddings=tuple(embeddings)) if embeddings else None)
    dropped: dict[str, int] = {}
    for r in results:
        for reason, count in r.dropped.items():
            dropped[reason] = dropped.get(reason, 0) + count
    answer.send((time.perf_counter() - start, ", ".join(f"{v:,} {k}" for k, v in sorted(dropped.items()))))


def run_view(root: str, answer) -> None:
    """`vmae corpus view ROOT`, asked for PAGES; sends (seconds to the first page, the slowest page's seconds)."""
    from corpus.view.server import serve

    source = Path(root).name
    start = time.perf_counter()
    server = serve([root], port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    times = [_page(server.server_address[1], p.format(source=source)) for p in PAGES]
    server.shutdown()
    answer.send((time.perf_counter() - start, f"slowest page {max(times):.2f} s"))


def _page(port: int, path: str) -> float:
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("GET", path)
    reply = conn.getresponse()
    reply.read()
    conn.close()
    if reply.status != 200:
        raise SystemExit(f"viewer: {path} answered {reply.status}")
    return time.perf_counter() - start


def _tree_rss(pid: int) -> int:
    """Bytes resident in `pid` and every process below it."""
    parent = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = {pid}, [pid]
    while frontier:
        frontier = [p for p, pp in parent.items() if pp in frontier and p not in tree]
        tree.update(frontier)
    total = 0
    for p in tree:
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
    return total


def measure(target, *args) -> tuple[object, float]:
    """Run `target(*args, pipe)` in a fresh process; returns what it sent and the peak GB of its tree."""
    ctx = mp.get_context("spawn")
    mine, theirs = ctx.Pipe()
    child = ctx.Process(target=target, args=(*args, theirs))
    child.start()
    peak = 0
    while child.is_alive():
        peak = max(peak, _tree_rss(child.pid))
        child.join(0.2)
    if child.exitcode:
        raise SystemExit(f"{target.__name__} failed (exit {child.exitcode})")
    return mine.recv(), peak / 1024**3


def exponent(a: tuple[int, float], b: tuple[int, float]) -> float:
    """How a figure grows between two sizes: 1 is linear, 2 quadratic."""
    return math.log(b[1] / a[1]) / math.log(b[0] / a[0])


def run_size(folder: Path, n: int, only: list[str]) -> dict[str, tuple[float, float, str]]:
    """command -> (seconds, peak GB, what it did) at n clips."""
    made = time.perf_counter()
    if not (folder / "inputs.json").is_file():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        (inputs, scale), _ = measure(make_corpora, folder, n)
        (folder / "inputs.json").write_text(json.dumps([inputs, scale]))
    inputs, scale = json.loads((folder / "inputs.json").read_text())
    print(f"{n:,} clips: tables ready in {time.perf_counter() - made:.0f} s", flush=True)
    embeddings = [str(_embeddings_of(root)) for root in inputs.values()]
    if "semantic" in only and not all(map(os.path.isfile, embeddings)):
        measure(make_all_embeddings, inputs)
    largest = max(inputs.values(), key=lambda r: json.loads((Path(r) / "build.json").read_text())["rows"])
    commands = {"mix": (run_mix, inputs, scale, str(folder / "mix")), "dedup": (run_dedup, inputs, []),
                "semantic": (run_dedup, inputs, embeddings), "view": (run_view, largest)}
    rows = {}
    for name in only:
        shutil.rmtree(folder / "mix", ignore_errors=True)
        (seconds, did), gb = measure(*commands[name])
        rows[name] = (seconds, gb, did)
        print(f"  {name}: {seconds:.1f} s, peak {gb:.2f} GB ({did})", flush=True)
    shutil.rmtree(folder / "mix", ignore_errors=True)
    return rows


def report(results: dict[int, dict[str, tuple[float, float, str]]], only: list[str]) -> None:
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"\nrecipe {RECIPE} scaled to each size; {machine}\n")
    print("| command | clips | wall time | peak memory | time exponent | memory exponent | target |")
    print("|---|---|---|---|---|---|---|")
    sizes = sorted(results)
    for name in only:
        for k, n in enumerate(sizes):
            seconds, gb, did = results[n][name]
            grow = ("", "")
            if k:
                before = results[sizes[k - 1]][name]
                grow = (f"{exponent((sizes[k - 1], before[0]), (n, seconds)):.2f}",
                        f"{exponent((sizes[k - 1], before[1]), (n, gb)):.2f}")
            target = f"≤ {TARGETS_GB[name]:g} GB at 25M" if k == len(sizes) - 1 else ""
            print(f"| {name} | {n:,} | {seconds:.1f} s | {gb:.2f} GB | {grow[0]} | {grow[1]} | {target} |")
        for far in (25_000_000, 250_000_000) if len(sizes) > 1 else ():
            if far <= sizes[-1]:
                continue
            (n0, n1), (a, b) = sizes[-2:], (results[sizes[-2]][name], results[sizes[-1]][name])
            print(f"| {name} | {far:,} (extrapolated) | {b[0] * (far / n1) ** exponent((n0, a[0]), (n1, b[0])):.0f} s "
                  f"| {b[1] * (far / n1) ** exponent((n0, a[1]), (n1, b[1])):.1f} GB | | | |")
    n = sizes[-1]
    print()
    for name in only:
        seconds, gb, did = results[n][name]
        held = "holds" if gb <= TARGETS_GB[name] else "does not hold"
        if name == "view":
            slowest = float(did.split()[-2])
            held += f"; slowest page {slowest:.2f} s: {'under' if slowest < PAGE_SECONDS else 'OVER'} a second"
        print(f"{name} within {TARGETS_GB[name]:g} GB at {n:,} clips: {held} ({did})")
    figures = {"mix_plan_gb": ("mix", 1), "dedup_gb": ("dedup", 1), "semantic_gb": ("semantic", 1),
               "view_gb": ("view", 1), "dedup_s": ("dedup", 0)}
    print(f"RESULT clips={n} " + " ".join(f"{key}={results[n][name][at]:.2f}" if name in results[n] else f"{key}=-"
                                         for key, (name, at) in figures.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="0.2M and 1M clips")
    ap.add_argument("--clips", type=int, nargs="+", help="sizes to run (default 1.35M 5M 25M)")
    ap.add_argument("--only", default="mix,dedup,semantic,view", help="the commands to measure, comma-separated")
    ap.add_argument("--keep", help="write the corpora under this folder and keep them (reused when there)")
    args = ap.parse_args()
    sizes = sorted(args.clips or ([200_000, 1_000_000] if args.quick else [1_350_000, 5_000_000, 25_000_000]))
    only = [c for c in args.only.split(",") if c]
    unknown = set(only) - set(TARGETS_GB)
    if unknown:
        raise SystemExit(f"--only: no command {', '.join(sorted(unknown))} (choose from {', '.join(TARGETS_GB)})")
    with tempfile.TemporaryDirectory(prefix="vmae-scale-") as tmp:
        base = Path(args.keep or tmp)
        results = {n: run_size(base / f"n{n}", n, only) for n in sizes}
    report(results, only)


if __name__ == "__main__":
    main()
