"""The video-language losses and retrieval metrics, each checked where it could be wrong: UMA's
range, VTC's value at both ends and its gradient across two gloo ranks, VTM's negatives, BERT's
masking, the fusion layers' use of the video, and recalls on known rankings."""

import math
import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from trainer.eval.retrieval import best_ranks, metrics, reranked
from trainer.models.sizes import SIZES
from trainer.models.text import TextConfig
from trainer.models.video_language import VideoLanguageModel
from trainer.objectives.umt import alignment_loss
from trainer.objectives.vl import gather, gather_ids, hard_negatives, mask_tokens, vtc_loss

TEXT = TextConfig(vocab_size=50, dim=32, depth=3, heads=2, mlp_dim=64, max_positions=40, fusion_layers=1,
                  video_dim=64, dropout=0.0, pad_id=0, cls_id=2, sep_id=3, mask_id=4)


def test_uma_is_0_on_its_targets_and_4_on_their_negation():
    targets = F.normalize(torch.randn(2, 5, 8), dim=-1)
    assert alignment_loss(targets * 3, targets).item() == pytest.approx(0, abs=1e-6)
    assert alignment_loss(-targets, targets).item() == pytest.approx(4, abs=1e-5)


def test_vtc_is_log_b_on_identical_pairs_and_near_0_on_separated_ones():
    b = 6
    same = F.normalize(torch.ones(b, 4), dim=-1)
    ids = torch.arange(b)
    assert vtc_loss(same, same, ids, torch.tensor(0.07)).item() == pytest.approx(math.log(b), rel=1e-5)
    apart = torch.eye(b)
    assert vtc_loss(apart, apart, ids, torch.tensor(0.01)).item() < 1e-6
    # two captions of one clip share an id: each is a soft positive (target 1/2) of the other's video, so
    # separated embeddings now cost half their logit gap, 100/2 on each of the 2 rows, averaged over 6 rows
    twins = torch.tensor([0, 0, 1, 2, 3, 4])
    assert vtc_loss(apart, apart, twins, torch.tensor(0.01)).item() == pytest.approx(2 * 50 / b, rel=1e-4)


def _one_rank(rank: int, world: int, init: str, features: torch.Tensor, ids: torch.Tensor, out: dict) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    torch.manual_seed(0)
    layer = torch.nn.Linear(features.shape[1], 8)  # the same weights on every rank
    half = len(features) // world
    mine = slice(rank * half, (rank + 1) * half)
    video = F.normalize(layer(features[mine]), dim=-1)
    text = F.normalize(layer(features[mine].flip(1)), dim=-1)
    loss = vtc_loss(gather(video), gather(text), gather_ids(ids[mine]), torch.tensor(0.1))
    loss.backward()
    grad = layer.weight.grad.clone()
    dist.all_reduce(grad)  # DDP averages the ranks' gradients
    out[rank] = (loss.item(), (grad / world).numpy())
    dist.destroy_process_group()


def test_two_gloo_ranks_give_the_loss_and_gradient_of_one_process_on_the_joined_batch(tmp_path):
    torch.manual_seed(1)
    features, ids = torch.randn(8, 6), torch.tensor([0, 1, 2, 3, 3, 5, 6, 7])
    torch.manual_seed(0)
    layer = torch.nn.Linear(6, 8)
    whole = vtc_loss(F.normalize(layer(features), dim=-1), F.normalize(layer(features.flip(1)), dim=-1), ids,
                     torch.tensor(0.1))
    whole.backward()
    out = mp.Manager().dict()
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    mp.spawn(_one_rank, args=(2, f"file://{tmp_path / 'rendezvous'}", features, ids, out), nprocs=2)
    for rank in (0, 1):
        loss, grad = out[rank]
        assert loss == pytest.approx(whole.item(), rel=1e-5)
        np.testing.assert_allclose(grad, layer.weight.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_vtm_never_draws_a_positive_and_marks_rows_without_negatives():
    ids = torch.tensor([0, 0, 1, 1, 1, 2, 3, 3])
    sim = torch.randn(8, 8) * 3
    positive = ids[:, None] == ids[None, :]
    for seed in range(1000):
        drawn = hard_negatives(sim, ids, torch.Generator().manual_seed(seed))
        assert not positive[torch.arange(8), drawn].any()
    lonely = hard_negatives(torch.randn(3, 3), torch.tensor([4, 4, 4]))
    assert lonely.tolist() == [-1, -1, -1]


def test_mlm_masks_half_the_real_tokens_never_padding_or_the_class_token():
    torch.manual_seed(0)
    ids = torch.randint(5, TEXT.vocab_size, (400, 24))
    ids[:, 0] = TEXT.cls_id
    keep = torch.ones_like(ids, dtype=torch.bool)
    keep[:, 16:] = False  # padding
    ids[~keep] = TEXT.pad_id
    masked, labels = mask_tokens(ids, keep, TEXT, 0.5)
    chosen = labels != -100
    assert not chosen[~keep].any() and not chosen[:, 0].any()
    n = keep[:, 1:].sum().item()
    share = chosen.sum().item() / n
    assert abs(share - 0.5) < 3 * math.sqrt(0.25 / n), share
    assert torch.equal(labels[chosen], ids[chosen])
    replaced = (masked[chosen] == TEXT.mask_id).float().mean().item()
    assert 0.75 < replaced < 0.85
    assert torch.equal(masked[~chosen], ids[~chosen])


def test_fusion_outputs_depend_on_the_video_and_text_mode_outputs_do_not():
    torch.manual_seed(0)
    model = VideoLanguageModel(SIZES["vit_test"].__class__(**{**SIZES["vit_test"].__dict__, "frames": 2,
                                                              "img_size": 32, "decoder_depth": 0}), TEXT, 16).eval()
    ids, keep = torch.randint(5, 50, (2, 10)), torch.ones(2, 10, dtype=torch.bool)
    calls = []
    for layer in model.text.encoder.layer:
        if layer.crossattention is not None:
            layer.crossattention.register_forward_hook(lambda *a: calls.append(1))
    text = model.encode_text(ids, keep)
    assert not calls  # text mode never reads a video
    a = model.text.fuse(text, keep, torch.randn(2, 7, 64))
    b = model.text.fuse(text, keep, torch.randn(2, 7, 64))
    assert calls and not torch.allclose(a, b)


def test_recalls_on_known_rankings_with_several_captions_per_video():
    # 3 videos; captions 0, 1 belong to video 0, caption 2 to video 1, caption 3 to video 2
    owner = np.array([0, 0, 1, 2])
    t2v = np.array([[0.9, 0.1, 0.0],   # rank 0
                    [0.1, 0.9, 0.0],   # its video second: rank 1
                    [0.0, 0.1, 0.9],   # rank 2 (video 1 is last)
                    [0.0, 0.1, 0.9]])  # rank 0
    got = metrics(t2v, owner)
    assert got["t2v_r1"] == 50 and got["t2v_r5"] == 100
    # videos as queries: video 0 is answered by either of its captions, caption 0 at rank 0; video 1's caption
    # scores 0.1 like captions 0 and 3 and comes after caption 1 and (stable order) caption 0: rank 2; video 2's
    # caption 3 ties with caption 2 at 0.9: rank 1
    assert best_ranks(t2v.T, [np.array([0, 1]), np.array([2]), np.array([3])]).tolist() == [0, 2, 1]
    assert got["v2t_r1"] == pytest.approx(100 / 3) and got["v2t_r5"] == 100
    perm = np.random.default_rng(0).permutation(20)
    exact = np.eye(20)[perm][:, perm]  # each query's answer scored highest, in any order of columns
    assert metrics(exact, np.arange(20))["mean"] == 100


def test_reranking_only_reorders_the_top_k_and_k_1_keeps_the_contrastive_ranking():
    sim = np.random.default_rng(1).normal(size=(6, 9))
    same = reranked(sim, 1, lambda q, cand: np.zeros(len(cand)))
    assert (np.argsort(-same, axis=1, kind="stable") == np.argsort(-sim, axis=1, kind="stable")).all()
    flipped = reranked(sim, 3, lambda q, cand: -sim[q, cand])  # the head prefers the contrastive third
    order, before = np.argsort(-flipped, axis=1, kind="stable"), np.argsort(-sim, axis=1, kind="stable")
    assert (order[:, :3] == before[:, 2::-1]).all() and (order[:, 3:] == before[:, 3:]).all()


@pytest.mark.parametrize("tubelet", [1, 2])
def test_an_image_is_one_tubelet_with_its_own_positions_and_a_video_is_not(tubelet):
    torch.manual_seed(0)
    cfg = SIZES["vit_test"].__class__(**{**SIZES["vit_test"].__dict__, "frames": 4, "tubelet": tubelet,
                                         "img_size": 32, "decoder_depth": 0})
    model = VideoLanguageModel(cfg, TEXT, 16).eval()
    image, video = torch.randn(2, 3, 1, 32, 32), torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        tokens, _ = model.encode_video(image)
        assert tokens.shape == (2, 4, 64)  # one tubelet of 2×2 patches
        before = model.encode_video(video)[0]
        assert before.shape == (2, 4 // tubelet * 4, 64)
        model.image_pos.add_(1)  # the image's positions are its own table, the video's are not
        assert not torch.allclose(model.encode_video(image)[0], tokens)
        assert torch.equal(model.encode_video(video)[0], before)
