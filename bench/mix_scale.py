"""Mixing at scale: 20,000 small clips from two corpora into one, against plain file copies.

    python bench/mix_scale.py [--quick] [--clips N] [--workers W]

Writes two corpora of N/2 clips each (4-12 KB of random bytes per clip: a mix copies tar members
without decoding them; tars and tables as a build writes them), then mixes all of them with
`vmae corpus mix` (the real mix(): plan, units in parallel, members streamed from the source
tars, tables merged) and, in the same run, copies the same clip bytes as one file per clip with
shutil.copyfile and one os.sync() at the end (the baseline: the plainest way to move those bytes
durably; the mix fsyncs each shard before its marker says it is done). Each is timed ROUNDS
times, in turns (trainer/bench/turns.py), after an untimed sync so neither pays for the other's
write-back: the medians, each with its spread, and a ratio flagged when a side's rounds spread
too wide to trust.
Ratio = copy time / mix time; target >= 0.5. --quick mixes 4,000 clips.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus.mix.run import MixOptions, mix  # noqa: E402
from corpus.options import ExecutorOptions, ShardOptions  # noqa: E402
from corpus.shard_writer import write_tar  # noqa: E402
from manifests.layout import CorpusLayout  # noqa: E402
from manifests.tables import write_atomic_bytes, write_part  # noqa: E402
from trainer.bench.turns import in_turns, ratio_note  # noqa: E402

TARGET = 0.5
ROUNDS = 5  # each side, in turns (trainer/bench/turns.py): the median and its spread
PER_SHARD = 1000


def make_corpus(root: Path, name: str, clips: int, rng: np.random.Generator, loose: Path) -> int:
    """A corpus of `clips` random-byte clips in tars of PER_SHARD; each clip's bytes also as a
    loose file (for the baseline). Returns the bytes of the clips."""
    layout = CorpusLayout.at(root)
    rows, shards, total = [], [], 0
    for start in range(0, clips, PER_SHARD):
        unit, group, data = f"u{start // PER_SHARD:06d}", [], {}
        for i in range(start, min(start + PER_SHARD, clips)):
            key = f"{name}_v{i:06d}_000000000_000002000"
            blob = rng.integers(0, 256, int(rng.integers(4_000, 12_000)), dtype=np.uint8).tobytes()
            data[key] = blob
            (loose / f"{key}.mp4").write_bytes(blob)
            group.append({"clip_key": key, "video_id": f"v{i}", "source": name, "row": i, "start_s": 0.0,
                          "end_s": 2.0, "duration_s": 2.0, "fps": 25.0, "frames": 50, "width": 96, "height": 64,
                          "bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest(),
                          "signature": [int(x) for x in rng.integers(0, 2**63, 8)], "unit": unit,
                          "shard": f"tars/{unit}-0000.tar"})
            total += len(blob)
        written = write_tar(root / f"tars/{unit}-0000.tar", group, False,
                            lambda c, d=data: (io.BytesIO(d[c["clip_key"]]), c["bytes"]))
        shards.append({"shard": f"tars/{unit}-0000.tar", "unit": unit, "clips": len(group), **written})
        rows += group
    write_part(layout.part("clips", "all"), "clips", rows)
    write_part(layout.part("shards", "all"), "shards", shards)
    write_part(layout.part("videos", "all"), "videos", [{"row": r["row"], "video_id": r["video_id"], "source": name,
                                                          "status": "ok", "unit": r["unit"]} for r in rows])
    write_atomic_bytes(layout.build_json, json.dumps({"tool": "vmae", "source": name, "state": "complete"}).encode())
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="4,000 clips")
    ap.add_argument("--clips", type=int, help="clips in all (default 20,000)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    clips = args.clips or (4_000 if args.quick else 20_000)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="vmae-mix-") as tmp:
        tmp = Path(tmp)
        (tmp / "loose").mkdir()
        total = sum(make_corpus(tmp / n, n, clips // 2, rng, tmp / "loose") for n in ("a", "b"))
        (tmp / "r.yaml").write_text(f"sources:\n  a: {{quota: {clips // 2}}}\n  b: {{quota: {clips // 2}}}\n")
        done = {"ours": 0, "copies": 0}

        def measure(side: str) -> float:  # in turns: both meet the same file system write-back
            k = done[side] = done[side] + 1
            os.sync()
            start = time.perf_counter()
            if side == "ours":
                summary = mix(MixOptions(recipe=str(tmp / "r.yaml"), inputs={"a": str(tmp / "a"), "b": str(tmp / "b")},
                                         out=str(tmp / f"mixed{k}"), shard=ShardOptions(8_000_000),
                                         executor=ExecutorOptions(workers=args.workers)),
                              progress=False)
                assert summary["clips"] == clips, summary["clips"]
                return time.perf_counter() - start
            (tmp / f"copies{k}").mkdir()
            for f in sorted((tmp / "loose").iterdir()):
                shutil.copyfile(f, tmp / f"copies{k}" / f.name)
            os.sync()
            return time.perf_counter() - start

        timed = in_turns(measure, ["ours", "copies"], ROUNDS)
    ours, baseline = timed["ours"].median, timed["copies"].median
    note = ratio_note(timed["ours"], timed["copies"])
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"\n{clips:,} clips ({total / 1e6:.0f} MB) from two corpora; mix with {args.workers} workers\n")
    print("| figure | vmae corpus mix | plain file copies | ratio | machine |")
    print("|---|---|---|---|---|")
    print(f"| wall time, median of {ROUNDS} rounds in turns | {timed['ours'].describe(digits=1)} "
          f"({clips / ours:,.0f} clips/s) | {timed['copies'].describe(digits=1)} ({clips / baseline:,.0f} clips/s) | "
          f"{baseline / ours:.2f}{note} | {machine} |")
    print(f"RESULT mix_scale ratio={baseline / ours:.2f} target={TARGET} figure=\"mix {clips:,} clips\" "
          f"ours=\"{timed['ours'].describe(digits=1)}\" baseline=\"{timed['copies'].describe(digits=1)} "
          f"(plain file copies){note}\"")


if __name__ == "__main__":
    main()
