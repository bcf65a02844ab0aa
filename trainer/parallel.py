"""How a trainee is spread over the ranks: DDP (a whole copy per rank, gradients averaged) or, with
--fsdp, FSDP2 (`fully_shard` on every unit its model family names, its transformer blocks, then on
the whole trainee: each rank keeps
a shard of the weights, gradients and optimizer state and gathers a block's weights only while it
runs). Mixed precision under FSDP is its policy: bf16 weights in the forward and backward pass,
fp32 gradients reduced and fp32 master weights."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn
from torch.distributed.tensor import DTensor
from torch.nn.parallel import DistributedDataParallel

from trainer.distributed import Dist
from trainer.models.families import family_of


def shard(trainee: nn.Module, env: Dist, precision: str) -> None:
    """FSDP2 in place, before the optimizer is made (it must hold the sharded parameters). One
    process has nothing to shard: the trainee stays whole and its checkpoints are still sharded
    ones, so that the run moves to more ranks and back."""
    if env.world == 1:
        return
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) \
        if precision == "bf16" else MixedPrecisionPolicy()
    units = family_of(trainee.model).shard_units
    for module in trainee.modules():
        if isinstance(module, units):
            fully_shard(module, mp_policy=policy)
    fully_shard(trainee, mp_policy=policy)  # the rest: embeddings, norms, heads, the decoder's own parameters


def wrap(trainee: nn.Module, env: Dist) -> nn.Module:
    """What the loop calls: DDP around the trainee when it has several ranks and is not sharded."""
    return DistributedDataParallel(trainee) if env.world > 1 and not is_sharded(trainee) else trainee


def is_sharded(module: nn.Module) -> bool:
    return any(isinstance(p, DTensor) for p in module.parameters())


@contextlib.contextmanager
def gathered(trainee: nn.Module) -> Iterator[None]:
    """The trainee's own parameters (those outside the blocks) gathered whole, for calling its model
    directly (validation) rather than through the trainee's forward; the blocks gather theirs as
    they run."""
    if not is_sharded(trainee):
        yield
        return
    trainee.unshard()
    try:
        yield
    finally:
        trainee.reshard()


def full_state(module: nn.Module) -> dict:
    """The module's whole state dict; every rank must call it when the module is sharded (the
    shards are gathered, onto the CPU of rank 0; other ranks get {})."""
    if not is_sharded(module):
        return module.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(module, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
