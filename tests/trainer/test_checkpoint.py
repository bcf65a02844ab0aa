"""The checkpoint format: records rebuild their model without being told its size, released files
load (with the one plain type they pickle), and anything that would run code is refused."""

import argparse
import warnings

import pytest
import torch
from safetensors.torch import save_file

from tests.trainer.helpers import evil_file
from trainer import checkpoint
from trainer.errors import CheckpointError
from trainer.models.registry import create_classifier, create_model


def test_a_record_rebuilds_its_model_without_being_told_the_size(tmp_path):
    model = create_model("vit_test", frames=4, img_size=32, tubelet=1, decoder_depth=0)
    torch.save(checkpoint.model_record(model, "vit_test"), tmp_path / "pre.pt")
    ckpt = checkpoint.read(tmp_path / "pre.pt")
    assert ckpt.kind == "pretrain" and ckpt.model_args["tubelet"] == 1 and ckpt.model_args["decoder_depth"] == 0
    clf = checkpoint.new_classifier(ckpt, 5)  # shaped like the checkpoint: tubelet 1, 4 frames
    assert "new head" in checkpoint.load_weights(clf, ckpt, None)
    assert clf.cfg.tubelet == 1 and torch.equal(clf.blocks[1].mlp.fc1.weight, model.encoder.blocks[1].mlp.fc1.weight)
    video = torch.rand(1, 3, 4, 32, 32)
    assert torch.allclose(clf.features(video), clf.fc_norm(model.encoder.encode(video)[0].mean(1)))


def test_released_files_load_and_their_size_is_inferred(tmp_path):
    state = create_classifier("vit_test", 7, tubelet=1).state_dict()
    torch.save({"module": state, "epoch": 29, "args": argparse.Namespace(model="vit_test", lr=1e-3)},
               tmp_path / "released.pth")
    ckpt = checkpoint.read(tmp_path / "released.pth")
    assert ckpt.kind == "classifier" and ckpt.classes == 7 and ckpt.model_name == "vit_test"
    assert ckpt.geometry() == {"tubelet": 1, "patch": 16}  # what the patch embedding fixes
    assert checkpoint.classifier(ckpt, frames=4, img_size=32)(torch.rand(1, 3, 4, 32, 32)).shape == (1, 7)
    save_file(state, str(tmp_path / "weights.safetensors"))
    assert checkpoint.read(tmp_path / "weights.safetensors").classes == 7


def test_a_file_that_would_run_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"
    evil = evil_file(tmp_path / "evil.pt", marker)
    with pytest.raises(CheckpointError, match=r"evil\.pt holds more than tensors.*asks for posix\.system"):
        checkpoint.read(evil)
    assert not marker.exists()
    with warnings.catch_warnings():  # scripting is deprecated; OpenAI's CLIP files are still such archives
        warnings.simplefilter("ignore", FutureWarning)
        script = torch.jit.script(torch.nn.Linear(2, 2))
    script.save(str(tmp_path / "clip.pt"))
    with pytest.raises(CheckpointError, match=r"TorchScript archive.*does not\s+run"):
        checkpoint.load_file(tmp_path / "clip.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable torch checkpoint"):
        checkpoint.read(tmp_path / "junk.pt")
