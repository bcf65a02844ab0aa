"""Checkpoints are data: every command that reads one (--init, --teacher, --ckpt,
--teacher-weights, resume) refuses a file whose pickle would run code, names the file, and runs
nothing."""

import shutil

import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.trainer.helpers import evil_file

runner = CliRunner()
DATA = ["--frames", "4", "--stride", "2", "--img-size", "32", "--workers", "0", "--steps", "1", "--batch-size", "2",
        "--model", "vit_test", "--no-progress"]


@pytest.fixture()
def evil(tmp_path):
    return evil_file(tmp_path / "evil.pt", tmp_path / "ran"), tmp_path / "ran"


def commands(evil, corpora, videos, tmp_path):
    four, six = str(corpora["four"]), str(corpora["six"])
    resume = tmp_path / "resume"
    resume.mkdir()
    shutil.copy(evil, resume / "ckpt-00000001.pt")
    return {
        "finetune --init": ["train", "finetune", "--shards", four, "--out", str(tmp_path / "a"), "--init", str(evil),
                            *DATA],
        "finetune --teacher": ["train", "finetune", "--shards", four, "--out", str(tmp_path / "b"), "--teacher",
                               str(evil), *DATA],
        "pretrain --teacher-weights": ["train", "pretrain", "--shards", six, "--out", str(tmp_path / "c"),
                                       "--objective", "umt", "--teacher", "clip_test", "--teacher-weights", str(evil),
                                       "--align-layers", "2", *DATA],
        "pretrain resume": ["train", "pretrain", "--shards", six, "--out", str(resume), *DATA],
        "eval --ckpt": ["eval", "--shards", four, "--ckpt", str(evil), "--out", str(tmp_path / "e")],
        "predict --ckpt": ["predict", str(videos / "a.mp4"), "--ckpt", str(evil)],
        "embed --ckpt": ["embed", "--shards", four, "--ckpt", str(evil), "--out", str(tmp_path / "e.parquet")],
    }


def test_every_command_that_reads_a_checkpoint_refuses_code(evil, motion_corpora, videos, tmp_path):
    path, marker = evil
    for name, argv in commands(path, motion_corpora, videos, tmp_path).items():
        r = runner.invoke(app, argv)
        assert r.exit_code == 2, (name, r.output)
        named = "ckpt-00000001.pt" if name == "pretrain resume" else "evil.pt"
        assert named in r.output and "holds more than tensors and plain values" in r.output, (name, r.output)
        assert "posix.system" in r.output and not marker.exists(), name
    assert not any((tmp_path / d).exists() for d in ("a", "b", "c", "e", "e.parquet"))  # nothing written


def test_a_sharded_checkpoint_whose_plan_would_run_code_is_refused(motion_corpora, tmp_path):
    """--fsdp writes folders read through torch.distributed.checkpoint, whose own reader unpickles
    the .metadata plan freely; ours knows the plan's classes only."""
    import pickle

    from tests.trainer.helpers import RunsCode

    run = tmp_path / "run"
    r = runner.invoke(app, ["train", "pretrain", "--shards", str(motion_corpora["six"]), "--out", str(run), "--fsdp",
                            *DATA])
    assert r.exit_code == 0, r.output
    folder = run / "ckpt-00000001"
    assert (folder / ".metadata").is_file()
    marker = tmp_path / "ran"
    (folder / ".metadata").write_bytes(pickle.dumps(RunsCode(marker)))
    for argv in (["embed", "--shards", str(motion_corpora["six"]), "--ckpt", str(folder), "--out",
                  str(tmp_path / "e.parquet")],
                 ["train", "pretrain", "--shards", str(motion_corpora["six"]), "--out", str(run), "--fsdp", *DATA]):
        r = runner.invoke(app, argv)
        assert r.exit_code == 2 and "not part of a torch.distributed.checkpoint plan" in r.output, r.output
        assert not marker.exists()
