"""Every registered size builds and trains a step at tiny image size; parameter names follow
the released VideoMAE V2 checkpoints; the trunk is shared and recomputes under checkpointing."""

import pytest
import torch

from tests.trainer.helpers import masks
from trainer.models.registry import create_model
from trainer.models.sizes import SIZES
from trainer.objectives.mae import patch_targets, reconstruction_loss


@pytest.mark.parametrize("name", sorted(SIZES))
def test_every_size_builds_and_runs_forward_backward(name):
    # tiny frames and image; the giant keeps its width, heads and mlp ratio but only two blocks
    depth = {"depth": 2} if name in ("vit_huge", "vit_giant", "vit_large") else {}
    model = create_model(name, frames=4, img_size=SIZES[name].patch * 2, **depth)
    cfg = model.cfg
    video = torch.rand(2, 3, cfg.frames, cfg.img_size, cfg.img_size)
    hidden, not_decoded = masks(cfg, 2)
    pred = model(video, hidden, not_decoded)
    assert pred.shape == (2, int((~not_decoded[0]).sum()), cfg.pixels_per_token)
    loss = reconstruction_loss(pred, patch_targets(video, cfg.patch, cfg.tubelet), hidden, not_decoded)
    loss.backward()
    assert torch.isfinite(loss) and model.encoder.patch_embed.proj.weight.grad is not None


def test_parameter_names_follow_the_released_checkpoints():
    keys = set(create_model("vit_test").state_dict())
    expected = {
        "encoder.patch_embed.proj.weight", "encoder.patch_embed.proj.bias",
        "encoder.blocks.0.norm1.weight", "encoder.blocks.0.attn.qkv.weight", "encoder.blocks.0.attn.q_bias",
        "encoder.blocks.0.attn.v_bias", "encoder.blocks.0.attn.proj.weight", "encoder.blocks.0.norm2.bias",
        "encoder.blocks.0.mlp.fc1.weight", "encoder.blocks.1.mlp.fc2.bias", "encoder.norm.weight",
        "encoder_to_decoder.weight", "mask_token", "decoder.blocks.0.attn.qkv.weight", "decoder.norm.weight",
        "decoder.head.weight", "decoder.head.bias",
    }
    assert expected <= keys
    assert not any("pos_embed" in k or k.endswith("qkv.bias") for k in keys)  # fixed table; no k bias
    assert "encoder_to_decoder.bias" not in keys


def test_released_layout_state_dict_loads_strictly():
    """A state dict saved by another build of the same size, wrapped the usual way
    ({'model': ...}, 'module.' prefixes), loads strictly once unwrapped."""
    from trainer.checkpoint import unwrap_state_dict
    src = create_model("vit_test")
    wrapped = {"model": {f"module.{k}": v.clone() for k, v in src.state_dict().items()}, "epoch": 799}
    dst = create_model("vit_test")
    dst.load_state_dict(unwrap_state_dict(wrapped), strict=True)
    assert torch.equal(dst.decoder.head.weight, src.decoder.head.weight)


def test_vit_base_parameter_count():
    """Encoder of vit_base: ~86M parameters, as in the paper."""
    with torch.device("meta"):
        model = create_model("vit_base")
    n = sum(p.numel() for p in model.encoder.parameters())
    assert 85e6 < n < 88e6


def test_a_tiny_model_learns_to_reconstruct_a_batch():
    torch.manual_seed(0)
    model = create_model("vit_test", frames=4, img_size=32)
    cfg = model.cfg
    t = torch.linspace(0, 1, 32)
    video = (torch.sin(6 * t)[None, None, None, :, None] * torch.cos(4 * t)[None, None, None, None, :] + 1) / 2
    video = video.expand(2, 3, 4, 32, 32).contiguous()
    hidden, not_decoded = masks(cfg, 2)
    targets = patch_targets(video, cfg.patch, cfg.tubelet)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = reconstruction_loss(model(video, hidden, not_decoded), targets, hidden, not_decoded)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
