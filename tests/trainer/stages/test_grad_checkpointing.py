"""--grad-checkpointing works in every stage: each block's forward runs again in the backward pass
(it would run once if the flag were dropped anywhere between the config and the trunk)."""

import pytest
import torch

from trainer.config import FinetuneConfig, PretrainConfig
from trainer.data.stream import StreamState
from trainer.distributed import Dist
from trainer.settings import configure
from trainer.stages.base import Trainee
from trainer.stages.finetune import FinetuneStage
from trainer.stages.pretrain import PretrainStage

DATA = {"frames": 4, "stride": 2, "img_size": 32, "workers": 0, "shuffle_buffer": 2}
CPU = Dist(rank=0, world=1, local_rank=0, device=torch.device("cpu"))
STAGES = {
    "pretrain mae": (PretrainConfig, PretrainStage, {}),
    "pretrain umt": (PretrainConfig, PretrainStage, {"objective": "umt", "teacher": "clip_test",
                                                     "teacher_weights": "random", "align_layers": 2}),
    "pretrain mae+umt": (PretrainConfig, PretrainStage, {"objective": "mae+umt", "teacher": "clip_test",
                                                         "teacher_weights": "random", "align_layers": 2}),
    "finetune": (FinetuneConfig, FinetuneStage, {}),
}


def block_calls(name: str, checkpointing: bool, corpus) -> int:
    cls, stage_cls, extra = STAGES[name]
    cfg = configure(cls, {"shards": [str(corpus)], "out": "unused", "model": "vit_test", "steps": 1,
                             "batch_size": 2, "grad_checkpointing": checkpointing, "data": DATA, **extra})
    stage = stage_cls(cfg)
    model = stage.build_model()
    trainee = Trainee(model, stage.build_objective(model, CPU))
    batch = next(iter(stage.loader(stage.shards()[0], CPU, StreamState())))
    blocks = model.encoder.blocks if hasattr(model, "encoder") else model.blocks
    calls = []
    blocks[0].register_forward_pre_hook(lambda *_: calls.append(1))  # recomputation stops before post-hooks
    loss, _ = trainee(batch)
    loss.backward()
    return len(calls)


@pytest.mark.parametrize("name", sorted(STAGES))
def test_gradient_checkpointing_recomputes_blocks_in_every_stage(name, motion_corpora):
    assert block_calls(name, False, motion_corpora["six"]) == 1
    assert block_calls(name, True, motion_corpora["six"]) == 2
