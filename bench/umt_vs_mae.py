"""UMT (teacher included) against dual-masking MAE, same student size, one training step each.

    python bench/umt_vs_mae.py [--quick] [--model vit_base] [--batch N]

Each configuration runs in its own subprocess (so each peak memory is its own) through vmae's
real training step as `vmae bench` builds it (trainer/bench/model.py): the stage's model, its
objective (PretrainObjective with the MAE or UMT part), AdamW (fused), autocast as `--precision`
sets it. MAE: 16 frames, tubelet 2, tube mask
0.9, running-cell decoder mask 0.5. UMT: 8 frames, tubelet 1, no pixel decoder, semantic mask 0.8
from a CLIP ViT-B/16 teacher (timm architecture, random weights: the cost is the same) at 224,
aligning the last 6 blocks. Both in fp32 and in bf16 autocast. The four run in turns for
--rounds rounds (trainer/bench/turns.py): medians, with the spread, and a ratio flagged when a
side's rounds spread too wide to trust.

The ratio is MAE's step time over UMT's (above 1: a UMT step is cheaper), in bf16 autocast as
real runs train (both official recipes use mixed precision); the fp32 ratio is printed beside
it. UMT's gain is fewer epochs to the same accuracy (200 against VideoMAE's 800-1600 in the
paper), so a UMT step may cost up to twice an MAE step and still train faster overall: that is
the target. Random pixels and a random teacher: the cost does not depend on them.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer.bench.model import step_rate  # noqa: E402
from trainer.bench.setup import BenchOptions  # noqa: E402
from trainer.bench.turns import in_turns, ratio_note  # noqa: E402
from trainer.distributed import Dist  # noqa: E402
from trainer.measure.flops import visible_tokens  # noqa: E402

TARGET = 0.5
DEVICE = Dist(rank=0, world=1, local_rank=0, device=torch.device("cuda" if torch.cuda.is_available() else "cpu"))


def one(objective: str, precision: str, model: str, batch: int, steps: int) -> dict:
    """One configuration's step, as `vmae bench` measures it (trainer/bench/model.py): seconds per
    step (the median of `steps` after two warm-up steps), peak memory, and what the student sees."""
    opts = BenchOptions(model=model, objective=objective, precision=precision, batch_size=batch, steps=steps)
    cfg = opts.stage_config()
    figures = step_rate(opts, cfg, DEVICE)
    return {"objective": objective, "precision": precision, "step_s": batch / figures.rates.median,
            "peak_gb": figures.peak_gb, "frames": cfg.data.frames, "tubelet": cfg.data.tubelet,
            "student_tokens": visible_tokens(cfg.data, cfg.encoder_mask)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 timed steps instead of 5")
    ap.add_argument("--model", default="vit_base")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the four configurations, in turns")
    ap.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    steps = 2 if args.quick else 5
    if args.one:
        print(json.dumps(one(*args.one, args.model, args.batch, steps)))
        return
    runs: dict[str, list[dict]] = {}

    def measure(side: str) -> float:
        objective, precision = side.split("/")
        run = subprocess.run([sys.executable, __file__, "--one", objective, precision, "--model", args.model,
                              "--batch", str(args.batch)] + (["--quick"] if args.quick else []),
                             capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"{objective} {precision} failed: {run.stderr[-2000:]}")
        runs.setdefault(side, []).append(json.loads(run.stdout.strip().splitlines()[-1]))
        return runs[side][-1]["step_s"]

    sides = [f"{o}/{p}" for p in ("fp32", "bf16") for o in ("mae", "umt")]
    timed = in_turns(measure, sides, args.rounds)
    results = {tuple(side.split("/")): {**runs[side][0], "step_s": timed[side].median,
                                        "peak_gb": max(r["peak_gb"] for r in runs[side])} for side in sides}
    cores = f"{platform.machine()}, {os.cpu_count()} cores"
    machine = f"{torch.cuda.get_device_name() if torch.cuda.is_available() else cores}, torch {torch.__version__}"
    memory = "peak GPU memory" if torch.cuda.is_available() else "peak memory (process)"
    print(f"\n{args.model} student at 224², batch {args.batch}; one training step (fwd + bwd + AdamW); "
          "UMT's step includes its CLIP ViT-B/16 teacher\n")
    print("| precision | figure | MAE (16 frames, tubelet 2) | UMT (8 frames, tubelet 1) | MAE / UMT | machine |")
    print("|---|---|---|---|---|---|")
    for precision in ("fp32", "bf16"):
        m, u = results["mae", precision], results["umt", precision]
        tm, tu = timed[f"mae/{precision}"], timed[f"umt/{precision}"]
        print(f"| {precision} | step time, median of {args.rounds} rounds in turns | {tm.describe()} | "
              f"{tu.describe()} | {m['step_s'] / u['step_s']:.2f}{ratio_note(tm, tu)} | {machine} |")
        print(f"| {precision} | {memory} | {m['peak_gb']:.2f} GB | {u['peak_gb']:.2f} GB | "
              f"{m['peak_gb'] / u['peak_gb']:.2f} | |")
        print(f"| {precision} | tokens the student encodes | {m['student_tokens']} | {u['student_tokens']} | | |")
    bf16 = {k: results[k, "fp32"]["step_s"] / results[k, "bf16"]["step_s"] for k in ("mae", "umt")}
    print(f"\nbf16 autocast vs fp32 step time: MAE {bf16['mae']:.2f}x, UMT {bf16['umt']:.2f}x")
    ratio = results["mae", "bf16"]["step_s"] / results["umt", "bf16"]["step_s"]  # as real runs train
    note = ratio_note(timed["mae/bf16"], timed["umt/bf16"])
    print(f"RESULT umt_vs_mae ratio={ratio:.2f} target={TARGET} figure=\"UMT {args.model} step, bf16\" "
          f"ours=\"{timed['umt/bf16'].describe()}\" "
          f"baseline=\"{timed['mae/bf16'].describe()} (MAE){note}\"")


if __name__ == "__main__":
    main()
