"""UMT (teacher included) against dual-masking MAE, same student size, one training step each.

    python bench/umt_vs_mae.py [--quick] [--model vit_base] [--batch N]

Each configuration runs in its own subprocess (so each peak memory is its own) through vmae's
real training step: the stage's model, its objective (PretrainObjective with the MAE or UMT
part), AdamW (fused), autocast as `--precision` sets it. MAE: 16 frames, tubelet 2, tube mask
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
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer.bench.turns import in_turns, ratio_note  # noqa: E402
from trainer.config import PretrainConfig  # noqa: E402
from trainer.distributed import Dist  # noqa: E402
from trainer.settings import configure  # noqa: E402
from trainer.stages.base import Trainee  # noqa: E402
from trainer.stages.pretrain import PretrainStage, mask_spec  # noqa: E402

TARGET = 0.5
DEVICE = Dist(rank=0, world=1, local_rank=0, device=torch.device("cuda" if torch.cuda.is_available() else "cpu"))


def step_fn(objective: str, precision: str, model: str, batch: int):
    extra = {"teacher_weights": "random"} if objective == "umt" else {}
    cfg = configure(PretrainConfig, {"model": model, "objective": objective, "precision": precision, "steps": 1,
                                        **extra})
    stage = PretrainStage(cfg)
    net = stage.build_model()
    trainee = Trainee(net, stage.build_objective(net, DEVICE)).to(DEVICE.device)
    optimizer = torch.optim.AdamW(stage.param_groups(trainee), lr=1e-4, betas=cfg.betas, fused=True)
    masks = mask_spec(cfg)
    rng = np.random.default_rng(0)
    made = [masks.make(cfg.data, rng) for _ in range(batch)]
    fixed = {k: torch.from_numpy(np.stack([m[k] for m in made])).to(DEVICE.device) for k in made[0]}
    video = torch.randint(0, 256, (batch, 3, cfg.data.frames, cfg.data.img_size, cfg.data.img_size),
                          dtype=torch.uint8, device=DEVICE.device)
    dtype = {"bf16": torch.bfloat16}.get(precision)

    def step():
        with torch.autocast(DEVICE.device.type, dtype=dtype, enabled=dtype is not None):
            loss, _ = trainee({"video": video, **fixed})
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    t, h, w = cfg.data.grid  # semantic masks keep N − int(N·ratio) per frame; the others come from the workers
    visible = int((~fixed["hidden"][0]).sum()) if "hidden" in fixed else t * (h * w - int(h * w * cfg.encoder_mask))
    return step, {"frames": cfg.data.frames, "tubelet": cfg.data.tubelet, "student_tokens": visible}


def timed(step, steps: int) -> tuple[float, float]:
    """Seconds per step after two warm-up steps, and the process' peak memory in GB (the GPU's
    where there is one)."""
    step()  # warm-up: allocator and kernels settle over the first steps
    step()
    if DEVICE.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if DEVICE.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps
    peak = (torch.cuda.max_memory_allocated() / 1024**3 if DEVICE.device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2)
    return seconds, peak


def one(objective: str, precision: str, model: str, batch: int, steps: int) -> dict:
    torch.manual_seed(0)
    step, info = step_fn(objective, precision, model, batch)
    seconds, peak = timed(step, steps)
    return {"objective": objective, "precision": precision, "step_s": seconds, "peak_gb": peak, **info}


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
