"""A few optimizer steps of stage 1 on fixed batches, as one process (the whole batch) or as one
of several torchrun ranks with --fsdp (its share of the batch); writes the losses as JSON. Run by
test_fsdp.py: the losses must agree."""

from __future__ import annotations

import json
import sys

import numpy as np
import torch

from trainer import distributed, parallel
from trainer.config import PretrainConfig
from trainer.data.masking import MaskSpec
from trainer.settings import configure
from trainer.stages.base import Trainee
from trainer.stages.optim import optimizer_step, set_lr
from trainer.stages.pretrain import PretrainStage

GLOBAL_BATCH, STEPS = 4, 4


def batches(cfg) -> list[dict]:
    """The same global batches in every process: clips, and their masks made as the loader makes them."""
    rng = np.random.default_rng(0)
    masks = MaskSpec(cfg.mask_type, cfg.encoder_mask, cfg.mae.decoder_mask)
    out = []
    for _ in range(STEPS):
        video = torch.from_numpy(rng.integers(0, 256, (GLOBAL_BATCH, 3, cfg.data.frames, 32, 32), dtype=np.uint8))
        made = [masks.make(cfg.data, rng) for _ in range(GLOBAL_BATCH)]
        out.append({"video": video, **{k: torch.from_numpy(np.stack([m[k] for m in made])) for k in made[0]}})
    return out


def main(out: str) -> None:
    env = distributed.setup()
    cfg = configure(PretrainConfig, {"out": "unused", "model": "vit_test", "steps": STEPS, "lr": 1e-3,
                                        "fsdp": env.world > 1, "encoder_mask": 0.75,
                                        "data": {"frames": 8, "stride": 1, "img_size": 32}})
    stage = PretrainStage(cfg)
    torch.manual_seed(0)  # the same initial weights in every process
    model = stage.build_model()
    trainee = Trainee(model, stage.build_objective(model, env))
    parallel.shard(trainee, env, cfg.precision)
    optimizer = torch.optim.AdamW(stage.param_groups(trainee), lr=1e-3, betas=cfg.betas)
    share = GLOBAL_BATCH // env.world
    losses = []
    for batch in batches(cfg):
        mine = {k: v[env.rank * share:(env.rank + 1) * share] for k, v in batch.items()}
        set_lr(optimizer, 1e-3)
        loss, _ = trainee(mine)
        loss.backward()
        optimizer_step([p for p in trainee.parameters() if p.requires_grad], optimizer, None, cfg.clip_grad)
        losses.append(distributed.all_reduce_mean(loss.detach()).item())
    if env.main:
        with open(out, "w") as f:
            json.dump({"world": env.world, "sharded": parallel.is_sharded(trainee), "losses": losses}, f)
    distributed.teardown()


if __name__ == "__main__":
    main(sys.argv[1])
