"""UMT's second stage (video-language) against its first stage, the same student, one training step.

    python bench/vl_step.py [--quick] [--model vit_base] [--batch N] [--precision bf16]

Each configuration runs in its own subprocess (so each peak memory is its own), alternately
(stage 1, stage 2, stage 1, …) for a few rounds; the table gives the median step time of each and
the spread of the rounds. Both through `vmae bench`'s step (trainer/bench/model.py): the stage's
model, its objective and AdamW, on a batch already on the device.

- stage 1 (the baseline): UMT on 8 frames, tubelet 1, semantic mask 0.8 from a CLIP ViT-B/16
  teacher at 224, aligning the last 6 blocks (as `vmae train pretrain --objective umt`).
- stage 2: `vmae train vlpretrain`'s step on 4 frames of the same student, with a BERT-base text
  tower (9 text and 3 fusion layers, 32 tokens): UMA (same teacher, mask 0.8), VTC, VTM (three
  fusion passes) and MLM.

The ratio is stage 1's step time over stage 2's (above 1: a stage-2 step is cheaper). Official
stage 2 runs 10 epochs against stage 1's 200, so a stage-2 step may cost up to twice a stage-1
step and the stage still cost a tenth: that is the target. --quick: vit_small (the text tower stays
BERT-base's shape), 2 timed steps, 2 rounds. Random pixels, captions and teacher: the cost does not
depend on them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer.bench.model import step_rate  # noqa: E402
from trainer.bench.setup import BenchOptions  # noqa: E402
from trainer.distributed import Dist  # noqa: E402

TARGET = 0.5
DEVICE = Dist(rank=0, world=1, local_rank=0, device=torch.device("cuda" if torch.cuda.is_available() else "cpu"))


def one(which: str, model: str, precision: str, batch: int, steps: int) -> dict:
    """One stage's step as `vmae bench` measures it (trainer/bench/model.py): stage 1 is UMT, stage
    2 the video-language stage on the same student's token grid (tubelet 1); seconds per step (the
    median of `steps` after two warm-up steps) and peak memory."""
    objective, settings = ("umt", {}) if which == "stage1" else ("vl", {"tubelet": 1})
    opts = BenchOptions(model=model, objective=objective, precision=precision, batch_size=batch, steps=steps,
                        settings=settings)
    cfg = opts.stage_config()
    figures = step_rate(opts, cfg, DEVICE)
    return {"step_s": batch / figures.rates.median, "peak_gb": figures.peak_gb, "frames": cfg.data.frames}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="vit_small, 2 steps, 2 rounds")
    ap.add_argument("--model", default=None, help="student size (default vit_base; vit_small with --quick)")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--precision", default="bf16" if torch.cuda.is_available() else "fp32")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    model = args.model or ("vit_small" if args.quick else "vit_base")
    steps, rounds = (2, args.rounds or 2) if args.quick else (4, args.rounds or 3)
    if args.one:
        print(json.dumps(one(args.one, model, args.precision, args.batch, steps)))
        return
    runs: dict[str, list[dict]] = {"stage1": [], "stage2": []}
    for _ in range(rounds):  # interleaved: a neighbour's load falls on both alike
        for which in runs:
            done = subprocess.run([sys.executable, __file__, "--one", which, "--model", model, "--precision",
                                   args.precision, "--batch", str(args.batch)] + (["--quick"] if args.quick else []),
                                  capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"{which} failed: {done.stderr[-2000:]}")
            runs[which].append(json.loads(done.stdout.strip().splitlines()[-1]))
    median = {k: statistics.median(r["step_s"] for r in v) for k, v in runs.items()}
    spread = {k: (max(r["step_s"] for r in v) - min(r["step_s"] for r in v)) / median[k] for k, v in runs.items()}
    peak = {k: max(r["peak_gb"] for r in v) for k, v in runs.items()}
    cores = f"{platform.machine()}, {os.cpu_count()} cores"
    machine = f"{torch.cuda.get_device_name() if torch.cuda.is_available() else cores}, torch {torch.__version__}"
    memory = "peak GPU memory" if torch.cuda.is_available() else "peak memory (process)"
    text = "BERT-base text tower (9 + 3 fusion layers)"
    print(f"\n{model} student at 224², batch {args.batch}, {args.precision}; one training step (fwd + bwd + AdamW), "
          f"median of {rounds} interleaved rounds of {steps} steps; stage 2 with a {text}\n")
    print("| figure | stage 1 UMT (8 frames) | stage 2 video-language (4 frames) | stage 1 / stage 2 | machine |")
    print("|---|---|---|---|---|")
    print(f"| step time | {median['stage1']:.2f} s (±{spread['stage1']:.0%}) | {median['stage2']:.2f} s "
          f"(±{spread['stage2']:.0%}) | {median['stage1'] / median['stage2']:.2f} | {machine} |")
    print(f"| {memory} | {peak['stage1']:.2f} GB | {peak['stage2']:.2f} GB | {peak['stage1'] / peak['stage2']:.2f} | |")
    if max(spread.values()) > 0.3:
        print("\nthe rounds spread by more than 30%: something else ran on this machine; rerun before trusting "
              "the ratio")
    ratio = median["stage1"] / median["stage2"]
    print(f"RESULT vl_step ratio={ratio:.2f} target={TARGET} figure=\"video-language {model} step, {args.precision}\" "
          f"ours=\"{median['stage2']:.2f} s\" baseline=\"{median['stage1']:.2f} s (UMT stage 1)\"")


if __name__ == "__main__":
    main()
