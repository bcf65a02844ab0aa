"""Dual masking against the original VideoMAE decoder and against Hugging Face's VideoMAE.

    python bench/dual_masking.py [--quick] [--batch N]

The same model size (vit_base, 16x224x224) and batch, one configuration per subprocess (so
each peak memory is its own): vmae with decoder mask ratio 0.5 (VideoMAE V2), vmae with 0
(the decoder rebuilds every masked token, as in VideoMAE), and transformers'
VideoMAEForPreTraining with the same sizes and encoder mask (it has no decoder masking). Each
measures a full training step: forward, backward and an AdamW update. The three run in turns for
--rounds rounds (trainer/bench/turns.py): medians, with the spread, and a ratio flagged when a
side's rounds spread too wide to trust. `--quick` takes fewer
steps, never a smaller model. Needs the bench extra: pip install -e '.[bench]'.
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
from trainer.data.config import Geometry  # noqa: E402
from trainer.data.masking import dual_mask  # noqa: E402
from trainer.models.registry import create_model  # noqa: E402
from trainer.objectives.mae import patch_targets, reconstruction_loss  # noqa: E402

TARGET = 1.3
GRID = Geometry(frames=16, img_size=224, patch=16, tubelet=2)


def decoder_flops(tokens: int, dim: int = 384, depth: int = 4, mlp: float = 4.0) -> float:
    """Forward + backward FLOPs of the decoder blocks (3 × forward): projections, MLP, attention."""
    per_layer = 2 * tokens * dim * dim * (4 + 2 * mlp) + 4 * tokens * tokens * dim
    return 3 * depth * per_layer


def masks(batch: int, decoder_ratio: float):
    rng = np.random.default_rng(0)
    ms = [dual_mask(GRID, 0.9, decoder_ratio, rng) for _ in range(batch)]
    return (torch.from_numpy(np.stack([m.encoder for m in ms])), torch.from_numpy(np.stack([m.decoder for m in ms])),
            ms[0].decoder_tokens)


def step_vmae(batch: int, decoder_ratio: float):
    model = create_model("vit_base")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)  # as vmae's trainer does
    video = torch.rand(batch, 3, 16, 224, 224)
    hidden, not_decoded, dec_tokens = masks(batch, decoder_ratio)
    targets = patch_targets(video, 16, 2)

    def step():
        loss = reconstruction_loss(model(video, hidden, not_decoded), targets, hidden, not_decoded)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step, dec_tokens


def step_hf(batch: int):
    from transformers import VideoMAEConfig, VideoMAEForPreTraining
    cfg = VideoMAEConfig(image_size=224, patch_size=16, num_frames=16, tubelet_size=2, hidden_size=768,
                         num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                         decoder_hidden_size=384, decoder_num_hidden_layers=4, decoder_num_attention_heads=6,
                         decoder_intermediate_size=1536, norm_pix_loss=True, use_mean_pooling=False)
    model = VideoMAEForPreTraining(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    video = torch.rand(batch, 16, 3, 224, 224)
    hidden, _, _ = masks(batch, 0.0)

    def step():
        loss = model(pixel_values=video, bool_masked_pos=hidden).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step, GRID.tokens  # its decoder takes every token (visible + all masked)


def one(config: str, batch: int, steps: int) -> dict:
    torch.manual_seed(0)
    step, dec_tokens = step_hf(batch) if config == "hf" else step_vmae(batch, 0.5 if config == "dual" else 0.0)
    step()  # warm-up: allocator and kernels settle over the first steps
    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = (time.perf_counter() - start) / steps
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    return {"config": config, "step_s": seconds, "peak_gb": peak_gb, "decoder_tokens": dec_tokens,
            "decoder_gflops": decoder_flops(dec_tokens) * batch / 1e9}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 timed steps instead of 6 per round")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the three configurations, in turns")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    steps = 3 if args.quick else 6
    if args.one:
        print(json.dumps(one(args.one, args.batch, steps)))
        return
    runs: dict[str, list[dict]] = {}

    def measure(config: str) -> float:
        run = subprocess.run([sys.executable, __file__, "--one", config, "--batch", str(args.batch)]
                             + (["--quick"] if args.quick else []), capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"{config} failed: {run.stderr[-2000:]}")
        runs.setdefault(config, []).append(json.loads(run.stdout.strip().splitlines()[-1]))
        return runs[config][-1]["step_s"]

    timed = in_turns(measure, ["dual", "full", "hf"], args.rounds)
    d, f, h = (runs[c][0] for c in ("dual", "full", "hf"))  # the counts do not change between rounds
    peak = {c: max(r["peak_gb"] for r in runs[c]) for c in runs}
    ratio = timed["hf"].median / timed["dual"].median
    machine = f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"
    print(f"\nvit_base, 16x224x224, batch {args.batch}, encoder mask 0.9; one training step (fwd + bwd + AdamW); "
          f"{args.rounds} rounds in turns, medians\n")
    print("| figure | vmae dual masking (0.5) | vmae decoder ratio 0 | transformers VideoMAE | dual vs HF | machine |")
    print("|---|---|---|---|---|---|")
    print(f"| step time | {timed['dual'].describe()} | {timed['full'].describe()} | {timed['hf'].describe()} | "
          f"{ratio:.2f}x faster{ratio_note(timed['dual'], timed['hf'])} | {machine} |")
    print(f"| peak memory (process) | {peak['dual']:.2f} GB | {peak['full']:.2f} GB | {peak['hf']:.2f} GB | "
          f"{peak['hf'] / peak['dual']:.2f}x less | |")
    print(f"| decoder tokens | {d['decoder_tokens']} | {f['decoder_tokens']} | {h['decoder_tokens']} | | |")
    print(f"| decoder GFLOPs (fwd+bwd) | {d['decoder_gflops']:.0f} | {f['decoder_gflops']:.0f} | "
          f"{h['decoder_gflops']:.0f} | | |")
    print(f"RESULT dual_masking ratio={ratio:.2f} target={TARGET} "
          f"figure=\"vit_base pretraining step, batch {args.batch}\" ours=\"{timed['dual'].describe()}\" "
          f"baseline=\"{timed['hf'].describe()} (transformers VideoMAE)\"")


if __name__ == "__main__":
    main()
