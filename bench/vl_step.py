"""UMT's second stage (video-language) against its first stage, the same student, one training step.

    python bench/vl_step.py [--quick] [--model vit_base] [--batch N] [--precision bf16]

Each configuration runs in its own subprocess (so each peak memory is its own), alternately
(stage 1, stage 2, stage 1, …) for a few rounds; the table gives the median step time of each and
the spread of the rounds. Both through vmae's real step: the model, the objective, fused AdamW.

- stage 1 (the baseline): UMT on 8 frames, tubelet 1, semantic mask 0.8 from a CLIP ViT-B/16
  teacher at 224, aligning the last 6 blocks (as `vmae train pretrain --objective umt`).
- stage 2: `vmae train vlpretrain`'s step on 4 frames of the same student, with a BERT-base text
  tower (9 text and 3 fusion layers, 32 tokens): UMA (same teacher, mask 0.8), VTC, VTM (three
  fusion passes) and MLM.

The ratio is stage 1's step time over stage 2's (above 1: a stage-2 step is cheaper). Official
stage 2 runs 10 epochs against stage 1's 200, so a stage-2 step may cost up to twice a stage-1
step and the stage still cost a tenth: that is the target. --quick: vit_small and a 4-layer,
512-wide text tower, 2 timed steps, 2 rounds. Random pixels, captions and teacher: the cost does
not depend on them.
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

from trainer.config import VLConfig  # noqa: E402
from trainer.distributed import Dist  # noqa: E402
from trainer.models.registry import model_config  # noqa: E402
from trainer.models.text import TextConfig  # noqa: E402
from trainer.models.video_language import VideoLanguageModel  # noqa: E402
from trainer.objectives.vl import VideoLanguage  # noqa: E402
from trainer.settings import configure  # noqa: E402
from trainer.stages.base import Trainee  # noqa: E402
from trainer.stages.optim import param_groups  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from umt_vs_mae import step_fn as stage1_step  # noqa: E402
from umt_vs_mae import timed  # noqa: E402

TARGET = 0.5
DEVICE = Dist(rank=0, world=1, local_rank=0, device=torch.device("cuda" if torch.cuda.is_available() else "cpu"))
BERT_BASE = TextConfig(fusion_layers=3)
BERT_SMALL = TextConfig(dim=512, depth=4, heads=8, mlp_dim=2048, fusion_layers=1)


def stage2_step(model: str, precision: str, batch: int, text: TextConfig):
    cfg = configure(VLConfig, {"shards": ["unused"], "model": model, "precision": precision, "steps": 1,
                               "teacher_weights": "random", "data": {"tubelet": 1}})
    video_cfg = model_config(model, **cfg.data.model_args(), decoder_depth=0)
    net = VideoLanguageModel(video_cfg, TextConfig(**{**text.__dict__, "video_dim": video_cfg.dim}), cfg.vl.embed_dim,
                             tuple(f"w{i}" for i in range(text.vocab_size)))
    trainee = Trainee(net, VideoLanguage.build(cfg, net, DEVICE.device)).to(DEVICE.device)
    optimizer = torch.optim.AdamW(param_groups(list(trainee.named_parameters()), 0, cfg.weight_decay), lr=1e-4,
                                  fused=True)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, text.vocab_size, (batch, cfg.vl.max_tokens), generator=g)
    ids[:, 0] = text.cls_id
    fixed = {"video": torch.randint(0, 256, (batch, 3, cfg.data.frames, 224, 224), dtype=torch.uint8, generator=g),
             "ids": ids, "keep": torch.ones_like(ids, dtype=torch.bool), "caption_id": torch.arange(batch)}
    fixed = {k: v.to(DEVICE.device) for k, v in fixed.items()}
    dtype = {"bf16": torch.bfloat16}.get(precision)

    def step():
        with torch.autocast(DEVICE.device.type, dtype=dtype, enabled=dtype is not None):
            loss, _ = trainee(dict(fixed))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step, {"frames": cfg.data.frames}


def one(which: str, model: str, precision: str, batch: int, steps: int, quick: bool) -> dict:
    torch.manual_seed(0)
    if which == "stage1":
        step, info = stage1_step("umt", precision, model, batch)
    else:
        step, info = stage2_step(model, precision, batch, BERT_SMALL if quick else BERT_BASE)
    seconds, peak = timed(step, steps)
    return {"step_s": seconds, "peak_gb": peak, "frames": info["frames"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="vit_small, a small text tower, 2 steps, 2 rounds")
    ap.add_argument("--model", default=None, help="student size (default vit_base; vit_small with --quick)")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--precision", default="bf16" if torch.cuda.is_available() else "fp32")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    model = args.model or ("vit_small" if args.quick else "vit_base")
    steps, rounds = (2, args.rounds or 2) if args.quick else (4, args.rounds or 3)
    if args.one:
        print(json.dumps(one(args.one, model, args.precision, args.batch, steps, args.quick)))
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
    text = "4-layer 512-wide text tower" if args.quick else "BERT-base text tower (9 + 3 fusion layers)"
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
