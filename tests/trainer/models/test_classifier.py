"""The fine-tuning model: released names, encoder taken from a pretraining checkpoint, a 710-way
head sliced to K400 keeping the right rows."""

import json

import torch

from trainer import checkpoint
from trainer.models.families import CLASSIFIER, PRETRAIN
from trainer.models.registry import create_classifier, create_model


def test_names_follow_the_released_fine_tuned_checkpoints():
    keys = set(create_classifier("vit_test", 7).state_dict())
    assert {"patch_embed.proj.weight", "blocks.0.attn.q_bias", "blocks.1.mlp.fc2.weight", "fc_norm.weight",
            "head.weight", "head.bias"} <= keys
    assert not any(k.startswith(("norm.", "encoder")) or "pos_embed" in k for k in keys)


def test_encoder_from_a_pretraining_checkpoint_and_other_frames():
    pre = create_model("vit_test", frames=8, img_size=64)
    clf = create_classifier("vit_test", 5, frames=4, img_size=32)  # positions rebuilt, weights shared
    missing, unexpected = clf.load_state_dict(CLASSIFIER.with_trunk(PRETRAIN.trunk_of(pre.state_dict())), strict=False)
    assert sorted(missing) == ["fc_norm.bias", "fc_norm.weight", "head.bias", "head.weight"] and not unexpected
    assert torch.equal(clf.blocks[1].attn.qkv.weight, pre.encoder.blocks[1].attn.qkv.weight)
    assert clf(torch.rand(2, 3, 4, 32, 32)).shape == (2, 5)


def test_710_head_sliced_to_k400_keeps_the_right_rows(kinetics_data, tmp_path):
    index = json.loads((kinetics_data / "label_710to400.json").read_text())
    k710 = create_classifier("vit_test", 710, frames=16, img_size=32)
    torch.save(checkpoint.model_record(k710, "vit_test"), tmp_path / "k710.pt")
    ckpt = checkpoint.read(tmp_path / "k710.pt")
    k400 = create_classifier("vit_test", 400, frames=16, img_size=32)
    assert "sliced from 710 classes" in checkpoint.load_weights(k400, ckpt, index)
    k710_names = (kinetics_data / "label_map_k710.txt").read_text().splitlines()
    k400_names = (kinetics_data / "label_map_k400.txt").read_text().splitlines()
    for row in (0, 17, 399):  # K400 class `row` is K710 class index[row]: same weights, same name
        assert torch.equal(k400.head.weight[row], k710.head.weight[index[row]])
        assert k710_names[index[row]] == k400_names[row]
    video = torch.rand(1, 3, 16, 32, 32)
    with torch.no_grad():
        assert torch.allclose(k400.eval()(video), k710.eval()(video)[:, index])
