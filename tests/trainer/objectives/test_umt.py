"""UMT's pieces: semantic masking follows the teacher's attention with exact counts per frame, the
alignment loss, and a step that trains the student and its heads but never the teacher."""

import torch

from trainer.config import PretrainConfig
from trainer.distributed import Dist
from trainer.models.registry import create_model
from trainer.objectives.pretraining import pretrain_objective
from trainer.objectives.umt import alignment_loss, semantic_mask
from trainer.settings import configure
from trainer.stages.base import Trainee

CPU = Dist(rank=0, world=1, local_rank=0, device=torch.device("cpu"))


def test_semantic_mask_counts_are_exact_per_frame_and_follow_the_attention():
    torch.manual_seed(0)
    b, t, n = 3, 4, 196
    attention = torch.rand(b, t, n) * 0.01
    attention[:, :, 17] = 5.0  # one token holds nearly all the attention
    attention[:, :, 100:110] *= 30  # ten tokens hold much more than the rest
    hidden = semantic_mask(attention, 0.8).view(b, t, n)
    assert ((~hidden).sum(-1) == 40).all()  # 196 − int(196·0.8) visible in every frame, as in UMT
    kept = torch.zeros(n)
    for _ in range(50):
        kept += (~semantic_mask(attention, 0.8).view(b * t, n)).float().mean(0)
    assert kept[17] == 50  # always kept
    assert kept[100:110].mean() > 3 * kept[:100].mean()  # more attention, kept more often
    one_hot = torch.zeros(1, 2, 16)
    one_hot[0, :, 5] = 1.0  # zero attention elsewhere: the draw is still defined
    assert not semantic_mask(one_hot, 0.5).view(2, 16)[:, 5].any()


def test_alignment_loss_is_zero_on_the_targets_and_four_on_their_opposite():
    target = torch.nn.functional.normalize(torch.randn(2, 5, 8), dim=-1)
    assert alignment_loss(target * 3, target).abs() < 1e-6  # scale does not matter: features are normalized
    assert torch.isclose(alignment_loss(-target, target), torch.tensor(4.0))
    assert 1.5 < alignment_loss(torch.randn(2, 5, 8), target) < 2.5  # unrelated: cos near 0


def umt_trainee(objective="umt", tubelet=1, **extra):
    cfg = configure(PretrainConfig, {"model": "vit_test", "objective": objective, "teacher": "clip_test",
                                        "teacher_weights": "random", "align_layers": 2, "steps": 1, "tubelet": tubelet,
                                        "frames": 4, "img_size": 32, **extra})
    model = create_model("vit_test", **cfg.data.model_args(), **({} if cfg.decoder else {"decoder_depth": 0}))
    return cfg, Trainee(model, pretrain_objective(cfg, model, CPU.device))


def test_a_step_trains_the_student_and_heads_and_never_the_teacher():
    torch.manual_seed(0)
    cfg, trainee = umt_trainee()
    teacher = trainee.objective.parts["umt"].teacher
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    optimizer = torch.optim.AdamW([p for p in trainee.parameters() if p.requires_grad], lr=1e-2)
    batch = {"video": torch.randint(0, 255, (2, 3, 4, 32, 32), dtype=torch.uint8)}
    loss, _ = trainee(dict(batch))
    loss.backward()
    student = trainee.model.encoder
    assert student.blocks[0].attn.qkv.weight.grad.abs().sum() > 0
    assert all(p.grad is not None for p in trainee.objective.parts["umt"].heads.parameters())
    assert all(p.grad is None for p in teacher.parameters())
    optimizer.step()
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())
    saved = trainee.objective.checkpoint_state()  # heads are saved; the teacher comes from its own file
    assert any(k.startswith("parts.umt.heads.") for k in saved) and not any(".teacher." in k for k in saved)
    assert not hasattr(trainee.model, "decoder")  # a UMT student has no pixel decoder


def test_mae_plus_umt_and_tubelet_two_share_one_encoder_pass():
    torch.manual_seed(0)
    cfg, trainee = umt_trainee("mae+umt", tubelet=2, objective_weights={"mae": 0.5})
    calls = []
    trainee.model.encoder.blocks[0].register_forward_pre_hook(lambda *_: calls.append(1))
    batch = {"video": torch.randint(0, 255, (2, 3, 4, 32, 32), dtype=torch.uint8),
             "not_decoded": torch.zeros(2, 8, dtype=torch.bool)}  # decode every position
    loss, parts = trainee(batch)
    assert len(calls) == 1 and batch["umt_targets"].shape == (2, 2, 8, 32)  # K, B, 2 slices × 2x2, C
    assert torch.isclose(loss, 0.5 * parts["loss_mae"] + parts["loss_umt"])
    assert ((~batch["hidden"]).view(2, 2, 4).sum(-1) == 1).all()  # 4 − int(4·0.8) visible per time slice
