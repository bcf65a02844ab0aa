"""Semantic dedup (`vmae corpus dedup --embeddings`) at the scale of the unlabeled hybrid.

    python bench/semantic_dedup.py [--quick] [--clips N] [--dim D] [--workers W]

Writes a corpus of N clips (1.35M by default; signatures random, so the signature passes find
nothing) and a Parquet of their D-wide embeddings (256 by default), drawn around 2,000 "scenes"
so that clips of one scene are alike (cosine about 0.5-0.8), with 2% planted near copies (cosine
about 0.98). Runs the real `dedup()` with the semantic pass (its within-cluster search in W worker
processes) and reports wall time, peak memory, and the recall and precision of the planted copies.
The baseline is an exact all-pairs cosine search, timed on a 20k subset and extrapolated to N (it
grows with N²); the same subset gives the all-pairs recall K-means clustering costs.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus.dedup import DEFAULT_SIMILARITY  # noqa: E402
from corpus.dedup.by_embedding import SemanticOptions  # noqa: E402
from corpus.dedup.run import dedup  # noqa: E402
from corpus.executors import local_executor  # noqa: E402
from manifests.tables import read_frame  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dedup_scale import write_corpus  # noqa: E402

TARGET_SECONDS, SCENES, COPIES = 600, 2000, 0.02


def embeddings(n: int, dim: int, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, dim) unit vectors around SCENES centres, and the planted (copy, original) index pairs."""
    centres = rng.normal(size=(SCENES, dim)).astype(np.float32)
    x = centres[rng.integers(0, SCENES, n)] + 0.6 * rng.normal(size=(n, dim)).astype(np.float32)
    copies = rng.choice(n, int(n * COPIES), replace=False)
    originals = rng.choice(np.setdiff1d(np.arange(n), copies), len(copies))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x[copies] = x[originals] + 0.2 / np.sqrt(dim) * rng.normal(size=(len(copies), dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, copies, originals


def all_pairs(x: np.ndarray, threshold: float) -> tuple[set, float]:
    start = time.perf_counter()
    sim = x @ x.T
    a, b = np.nonzero(np.triu(sim >= threshold, 1))
    return set(zip(a.tolist(), b.tolist(), strict=True)), time.perf_counter() - start


def make_inputs(folder: Path, n: int, dim: int) -> None:
    """The corpus (random signatures) and its embeddings' Parquet, drawn from seed 0."""
    rng = np.random.default_rng(0)
    x, _, _ = embeddings(n, dim, rng)
    write_corpus(folder / "corpus", rng.integers(0, np.iinfo(np.uint64).max, size=(n, 8), dtype=np.uint64,
                                                 endpoint=True))
    pq.write_table(pa.table({"clip_key": [f"bench_{i:08d}" for i in range(n)], "embedding":
                             pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), dim)}), folder / "emb.parquet")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100k clips: about a minute on 2 cores")
    ap.add_argument("--clips", type=int, default=None)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    n = args.clips or (100_000 if args.quick else 1_350_000)
    with tempfile.TemporaryDirectory(prefix="vmae-semantic-") as tmp:
        root = Path(tmp) / "corpus"
        # made in another process, so that this one's peak memory is dedup's alone (the corpus
        # and embeddings were made here until 2026-12-07, and their memory counted as dedup's)
        maker = mp.get_context("spawn").Process(target=make_inputs, args=(Path(tmp), n, args.dim))
        maker.start()
        maker.join()
        if maker.exitcode:
            raise SystemExit(f"making the corpus failed (exit {maker.exitcode})")
        start = time.perf_counter()
        (result,) = dedup([root], executor=local_executor(args.workers), semantic=SemanticOptions(
            (str(Path(tmp) / "emb.parquet"),), plot=str(Path(tmp) / "sim.png")))
        wall = time.perf_counter() - start
        peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        verdicts = read_frame(root, "dedup")
    rng = np.random.default_rng(0)  # the maker's draws again, for the recall and the all-pairs subset
    x, copies, originals = embeddings(n, args.dim, rng)
    rng.integers(0, np.iinfo(np.uint64).max, size=(n, 8), dtype=np.uint64, endpoint=True)
    dropped = verdicts.index[~verdicts["keep"].to_numpy()].to_numpy()
    planted = set(copies.tolist()) | set(originals.tolist())
    # a planted pair is found when one of its two clips is dropped (which one is the keep rule's choice)
    found = np.isin(copies, dropped) | np.isin(originals, dropped)
    precision = np.isin(dropped, list(planted)).mean() if len(dropped) else 1.0
    sub = rng.choice(n, min(20_000, n), replace=False)
    truth, seconds = all_pairs(x[sub], DEFAULT_SIMILARITY)
    extrapolated = seconds * (n / len(sub)) ** 2
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"\n{n:,} clips, {args.dim}-wide embeddings, {len(copies):,} planted copies, similarity "
          f"{DEFAULT_SIMILARITY}; dropped {result.dropped}\n")
    print("| figure | vmae dedup --embeddings | all-pairs baseline | machine |")
    print("|---|---|---|---|")
    print(f"| wall time (all of dedup) | {wall:.1f} s | {extrapolated:.0f} s (extrapolated from 20k) | {machine} |")
    print(f"| peak memory of the process running dedup ({args.workers} workers besides) | {peak_gb:.2f} GB | | |")
    print(f"| planted copies found (recall) | {found.mean():.4f} | 1.0 | |")
    print(f"| dropped clips that are planted copies or originals (precision) | {precision:.4f} | "
          f"{len(truth)} pairs ≥ {DEFAULT_SIMILARITY} in the 20k subset | |")
    print(f"RESULT semantic_dedup ratio={extrapolated / wall:.1f} target={extrapolated / TARGET_SECONDS:.1f} "
          f"figure=\"semantic dedup of {n:,} clips, wall time\" ours=\"{wall:.1f} s, recall {found.mean():.3f}\" "
          f"baseline=\"{extrapolated:.0f} s (all pairs, extrapolated)\"")


if __name__ == "__main__":
    main()
