"""Stages 2 and 3 on tiny labeled corpora built by the corpus tools: the whole recipe runs, the
best checkpoint is kept, heads are sliced by class name, bad input is refused with nothing
written, and mixup/cutmix/distillation behave."""

import json

import pytest
import torch

from corpus.synthetic import DIRECTIONS
from tests.helpers import build_corpus
from trainer import checkpoint
from trainer.checkpoint import load_weights
from trainer.config import FinetuneConfig, PretrainConfig
from trainer.data.labeled import corpus_labels
from trainer.errors import CheckpointError
from trainer.models.registry import create_classifier
from trainer.objectives.supervised import distill_loss, mix_batch
from trainer.settings import configure
from trainer.stages.finetune import finetune
from trainer.stages.heads import head_rows
from trainer.stages.pretrain import pretrain

DATA = {"frames": 4, "stride": 2, "img_size": 32, "workers": 1, "shuffle_buffer": 4}


def ft_config(shards, out, **kw):
    data = DATA | kw.pop("data", {})
    return configure(FinetuneConfig, {"shards": [str(shards)], "out": str(out), "model": "vit_test", "batch_size": 4,
                                  "ckpt_every": 3, "data": data, **kw})


def test_default_recipe_runs_validates_and_keeps_the_best(tmp_path, motion_corpora):
    # the full VideoMAE V2 recipe: RandAugment, erasing, mixup/cutmix, smoothing, layer decay, 2 views, EMA
    four = motion_corpora["four"]
    cfg = ft_config(four, tmp_path / "run", steps=6, val_shards=[str(four)], val_every=3, ema=0.9)
    assert cfg.data.num_views == 2 and cfg.supervised.mixup > 0 and cfg.rand_augment
    result = finetune(cfg, progress=False)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "val_top1" in r] == [3, 6]
    best = checkpoint.read(tmp_path / "run" / "best.pt")
    assert best.kind == "classifier" and best.labels == corpus_labels([str(motion_corpora["four"])])
    assert result["best"]["top1"] == max(r["val_top1"] for r in rows if "val_top1" in r)
    assert (tmp_path / "run" / "loss.png").stat().st_size > 5000
    state = checkpoint.load_file(tmp_path / "run" / "ckpt-00000006.pt")
    assert state["ema"] is not None and state["labels"] == best.labels
    # layer-wise decay: the embedding learns slowest, the head fastest
    scales = sorted(g["lr_scale"] for g in state["optimizer"]["param_groups"])
    assert scales[0] == pytest.approx(0.75**3) and scales[-1] == 1.0
    # distillation from the run's best model: a student of the same classes trains with it
    student = ft_config(four, tmp_path / "student", steps=2, teacher=str(tmp_path / "run" / "best.pt"),
                        distill_weight=0.5, distill_temperature=2.0)
    assert finetune(student, progress=False)["steps"] == 2


def test_stage1_to_stage2_to_stage3_slices_the_head_by_class_name(tmp_path, motion_corpora):
    pre = configure(PretrainConfig, {"shards": [str(motion_corpora["six"])], "out": str(tmp_path / "s1"),
                                        "model": "vit_test", "steps": 2, "batch_size": 2, "encoder_mask": 0.75,
                                        "data": DATA})
    pretrain(pre, progress=False)
    post = ft_config(motion_corpora["six"], tmp_path / "s2", steps=3, init=str(tmp_path / "s1"), stage="postpretrain")
    finetune(post, progress=False)
    stage2 = checkpoint.read(tmp_path / "s2")
    assert stage2.classes == 6 and stage2.labels == sorted(DIRECTIONS)
    target = corpus_labels([str(motion_corpora["four"])])
    rows = head_rows(stage2, target, len(target))
    assert [stage2.labels[r] for r in rows] == target  # each target class takes its own row
    model = create_classifier("vit_test", 4, frames=4, img_size=32)
    assert "sliced from 6 classes" in load_weights(model, stage2, rows)
    assert torch.equal(model.head.weight[1], stage2.state["head.weight"][rows[1]])
    stage3 = ft_config(motion_corpora["four"], tmp_path / "s3", steps=2, init=str(tmp_path / "s2"))
    result = finetune(stage3, progress=False)
    assert result["steps"] == 2


def test_head_that_does_not_fit_without_a_map_is_refused_and_nothing_written(tmp_path, motion_corpora):
    released = tmp_path / "released.pth"  # a released-style file: weights only, 710 classes, no class names
    torch.save({"module": create_classifier("vit_test", 710).state_dict()}, released)
    out = tmp_path / "run"
    with pytest.raises(CheckpointError, match="710-class head.*--label-map"):
        finetune(ft_config(motion_corpora["four"], out, steps=2, init=str(released)), progress=False)
    assert not out.exists() or not any(out.glob("ckpt-*.pt"))
    index = tmp_path / "map.json"  # an index map as label_710to400.json is: head row per target class
    index.write_text(json.dumps([5, 17, 400, 709]))
    ckpt = checkpoint.read(released)
    assert head_rows(ckpt, None, 4, label_map=str(index)) == [5, 17, 400, 709]
    finetune(ft_config(motion_corpora["four"], out, steps=1, init=str(released), label_map=str(index)), progress=False)
    assert (out / "ckpt-00000001.pt").is_file()
    new = finetune(ft_config(motion_corpora["four"], tmp_path / "new", steps=1, init=str(released), new_head=True),
                   progress=False)
    assert new["steps"] == 1


def test_label_map_naming_classes_the_corpus_lacks_is_refused(tmp_path, motion_corpora):
    names = tmp_path / "to.txt"
    names.write_text("moving up\nmoving right\nmoving left\ndancing\n")
    frm = tmp_path / "from.txt"
    frm.write_text("\n".join(sorted(DIRECTIONS)) + "\n")
    torch.save({"model": create_classifier("vit_test", 6).state_dict()}, tmp_path / "six.pt")
    with pytest.raises(CheckpointError, match="dancing"):
        finetune(ft_config(motion_corpora["four"], tmp_path / "run", steps=1, init=str(tmp_path / "six.pt"),
                           label_map_from=str(frm), label_map_to=str(names)), progress=False)


def test_unlabeled_corpus_is_refused(tmp_path, videos):
    build_corpus(tmp_path / "c", "movies", [videos / "long.mp4"], clip={"clip_seconds": 3})
    with pytest.raises(Exception, match="unlabeled corpus"):
        finetune(ft_config(tmp_path / "c", tmp_path / "run", steps=1), progress=False)


def test_mixup_and_cutmix_keep_shapes_and_paste_the_same_box_on_every_frame():
    from timm.data import Mixup

    video = torch.arange(4, dtype=torch.float32).view(4, 1, 1, 1, 1).expand(4, 3, 4, 16, 16).contiguous()
    labels = torch.tensor([0, 1, 2, 3])
    cutmix = Mixup(mixup_alpha=0, cutmix_alpha=1.0, prob=1.0, label_smoothing=0.0, num_classes=5)
    torch.manual_seed(0)
    mixed, target = mix_batch(video.clone(), labels, cutmix, None, 5, 0.0)
    assert mixed.shape == video.shape and target.shape == (4, 5)
    assert torch.allclose(target.sum(dim=1), torch.ones(4))
    pasted = mixed[0] != video[0]  # clip 0 received a box of clip 3 (the batch is paired with its flip)
    assert pasted.any() and torch.equal(pasted[:, :1].expand_as(pasted), pasted)  # same box on every frame
    share = pasted[0, 0].float().mean()
    assert target[0, 3] == pytest.approx(float(share), abs=1e-6)  # label weight = pasted area
    mixup = Mixup(mixup_alpha=0.8, cutmix_alpha=0, prob=1.0, label_smoothing=0.1, num_classes=5)
    mixed, target = mix_batch(video.clone(), labels, mixup, None, 5, 0.1)
    lam = 1 - float(mixed[0, 0, 0, 0, 0]) / 3  # clip 0 (zeros) mixed with clip 3 (threes)
    assert mixed.shape == video.shape and torch.allclose(mixed[0], torch.full_like(mixed[0], 3 * (1 - lam)))
    assert target[0, 0] == pytest.approx(lam * 0.92 + (1 - lam) * 0.02, abs=1e-5)
    plain_mixed, plain_target = mix_batch(video.clone(), labels, None, None, 5, 0.1)
    assert torch.equal(plain_mixed, video) and plain_target[0, 0] == pytest.approx(0.92)


def test_distillation_loss():
    logits = torch.randn(3, 5)
    assert distill_loss(logits, logits, 2.0).abs() < 1e-6
    assert distill_loss(logits, -logits, 2.0) > 0.1
