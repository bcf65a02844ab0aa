"""The throughput table the docs keep for a GPU (docs/bench.md), in one call: `vmae bench` at one
model size over every stage and the options that change a step's speed, each run in its own process.

    python bench/gpu_table.py --shards CORPUS [--captioned CORPUS] [--model vit_base]
        [--precision bf16] [--batch-size 32] [--steps 5] [--out runs.json] [--quick]

Rows: mae, umt (the teacher included) and supervised, and vl where a captioned corpus is given;
each plain, with --grad-checkpointing, and with --fsdp over every GPU (torchrun; two CPU ranks
without a GPU). The plain row of each stage also measures decode and the loader on the corpus,
on the CPU and, where there is a GPU, with torchcodec's GPU decoder. Prints one markdown table
with the machine; every run's JSON goes to --out. `--quick` checks the script itself on any
machine in a minute or two: vit_test at 4 frames of 32 px, batch 2, fp32, one measured step.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import torch

VMAE = str(Path(sys.executable).parent / "vmae")
STAGES = ("mae", "umt", "supervised")


def runs(args: argparse.Namespace) -> list[tuple[str, str, list[str]]]:
    """(stage, options, extra arguments of vmae bench) for every row."""
    cuda = torch.cuda.is_available()
    stages = [(s, args.shards) for s in STAGES] + ([("vl", args.captioned)] if args.captioned else [])
    rows = []
    for stage, shards in stages:
        data = ["--shards", shards, "--max-workers", str(args.max_workers)] if shards else []
        rows.append((stage, "plain, CPU decode", data))
        if cuda and shards:
            rows.append((stage, "GPU decode", data + ["--decoder", "torchcodec", "--decode-device", "cuda"]))
        rows.append((stage, "--grad-checkpointing", ["--grad-checkpointing"]))
        rows.append((stage, "--fsdp", ["--fsdp"]))
    return rows


def one(args: argparse.Namespace, stage: str, extra: list[str]) -> dict:
    common = ["bench", "--model", args.model, "--objective", stage, "--precision", args.precision, "--batch-size",
              str(args.batch_size), "--steps", str(args.steps), "--json", *args.shape, *extra]
    if stage in ("umt", "vl") and args.quick:
        common += ["--teacher", "clip_test", "--align-layers", "2"]
    if "--fsdp" in extra:
        ranks = max(torch.cuda.device_count(), 2) if torch.cuda.is_available() else 2
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(ranks),
               "--no-python", VMAE, *common]
    else:
        cmd = [VMAE, *common]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1][:200]}
    return json.loads(done.stdout)


def row(stage: str, options: str, m: dict) -> str:
    if "error" in m:
        return f"| {stage} | {options} | failed: {m['error']} | | | | | |"
    decode = ", ".join(f"{k} {v:.0f}" for k, v in m["decode"].items()) or "–"
    loader = f"{m['loader']['1']:.1f}" if "1" in m["loader"] else "–"
    workers = m["workers_needed"] if m["workers_needed"] is not None else "–"
    return (f"| {stage} | {options} ({m['parallel']}) | {m['step_clips_s']:.2f} | {m['mfu']:.1%} | "
            f"{m['step_peak_gb']:.1f} GB | {decode} | {loader} | {workers} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shards", help="a corpus for decode and the loader (without it, the model steps only)")
    ap.add_argument("--captioned", help="a captioned corpus: adds the video-language stage's rows")
    ap.add_argument("--model", default="vit_base")
    ap.add_argument("--precision", default="bf16")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--max-workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", type=Path, help="every run's JSON")
    ap.add_argument("--quick", action="store_true", help="a tiny model, to check the script on any machine")
    args = ap.parse_args()
    args.shape = []
    if args.quick:
        args.model, args.precision, args.batch_size, args.steps = "vit_test", "fp32", 2, 1
        args.shape, args.max_workers = ["--frames", "4", "--img-size", "32", "--rounds", "1"], 1
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    machine = f"{device}, {os.cpu_count()} CPU cores, {platform.machine()}, torch {torch.__version__}"
    lines = [f"`vmae bench` at {args.model} {args.precision}, batch {args.batch_size} per device, on {machine}", "",
             "| stage | options | step clips/s per device | MFU | peak memory | decode clips/s per worker | "
             "loader, 1 worker | workers per device |", "|---|---|---|---|---|---|---|---|"]
    measured = []
    for stage, options, extra in runs(args):
        print(f"{stage}: {options}", file=sys.stderr, flush=True)
        m = one(args, stage, extra)
        measured.append({"stage": stage, "options": options, **m})
        lines.append(row(stage, options, m))
    if args.out:
        args.out.write_text(json.dumps(measured, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
