"""The MAE objective's loss: counted where dual masking says, on per-token normalized pixels."""

import torch

from tests.trainer.helpers import masks
from trainer.models.registry import create_model
from trainer.objectives.mae import patch_targets, reconstruction_loss


def test_loss_only_counts_tokens_hidden_from_the_encoder_and_kept_by_the_decoder():
    cfg = create_model("vit_test", frames=4, img_size=32).cfg
    hidden, not_decoded = masks(cfg, 1, enc=0.5, dec=0.5)
    targets = torch.zeros(1, cfg.tokens, cfg.pixels_per_token)
    kept = (~not_decoded[0]).nonzero().squeeze(1)
    pred = torch.zeros(1, len(kept), cfg.pixels_per_token)
    visible_kept = [i for i, t in enumerate(kept) if not hidden[0, t]]
    pred[0, visible_kept] = 100.0  # errors on tokens the encoder saw must not count
    assert reconstruction_loss(pred, targets, hidden, not_decoded) == 0
    pred[0, [i for i in range(len(kept)) if i not in visible_kept][0]] = 1.0
    assert reconstruction_loss(pred, targets, hidden, not_decoded) > 0


def test_patch_targets_are_normalized_per_token():
    video = torch.rand(1, 3, 4, 32, 32) * 0.2 + 0.5
    t = patch_targets(video, 16, 2).reshape(1, 8, 2 * 16 * 16, 3)
    assert torch.allclose(t.mean(dim=2), torch.zeros(1, 8, 3), atol=1e-5)
    assert torch.allclose(t.std(dim=2), torch.ones(1, 8, 3), atol=1e-3)
