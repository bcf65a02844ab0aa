"""A full disk stops every command that writes the way it stops a corpus build: a message saying
what and where, with the room left there, and exit status 3; nothing half-written is left, and the
same command completes once there is room. Real tmpfs mounts, filled to the brim with a file."""

import shutil

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from cli.main import app
from manifests.validate import validate
from tests.helpers import tmpfs
from trainer.checkpoint import model_record
from trainer.models.registry import create_classifier

runner = CliRunner()


@pytest.fixture()
def disk(tmp_path):
    with tmpfs(tmp_path / "disk", "16m") as mount:
        yield mount


def fill(mount, room: int):
    """Leave about `room` bytes free on the mount (tmpfs counts whole 4 KiB pages)."""
    filler = mount / "filler"
    free = shutil.disk_usage(mount).free
    with open(filler, "wb") as f:
        f.truncate(0)
        f.write(b"\0" * max(0, free - room))
    return filler


def on_a_full_disk(mount, argv, room):
    """Run argv with the disk nearly full; the room is back when it returns."""
    filler = fill(mount, room)
    try:
        return runner.invoke(app, argv)
    finally:
        filler.unlink()


def assert_stopped_cleanly(result, command, mount):
    assert result.exit_code == 3, result.output
    assert f"error: {command} stopped: no space left on the device" in result.output
    assert "MB free on the file system of" in result.output and "rerun the same command" in result.output
    assert not [p for p in mount.rglob("*.tmp")], "a temporary file was left behind"


def test_mix_on_a_full_disk(disk, tmp_path, motion_corpora):
    (tmp_path / "r.yaml").write_text("sources:\n  m: {quota: 12}\n")
    argv = ["corpus", "mix", "--recipe", str(tmp_path / "r.yaml"), "--input", f"m={motion_corpora['six']}",
            "--out", str(disk / "mix"), "--workers", "1", "--shard-bytes", "20KB", "--no-progress"]
    assert_stopped_cleanly(on_a_full_disk(disk, argv, room=48 * 1024), "mix", disk)
    again = runner.invoke(app, argv)
    assert again.exit_code == 0, again.output
    assert validate(disk / "mix").ok and len(pd.read_parquet(disk / "mix" / "clips")) == 12


def test_dedup_on_a_full_disk(disk, motion_corpora):
    corpus = disk / "c"
    shutil.copytree(motion_corpora["six"], corpus, symlinks=True)
    argv = ["corpus", "dedup", str(corpus), "--workers", "1", "--no-progress"]
    assert_stopped_cleanly(on_a_full_disk(disk, argv, room=0), "dedup", disk)
    again = runner.invoke(app, argv)
    assert again.exit_code == 0, again.output
    assert len(pd.read_parquet(corpus / "dedup")) == len(pd.read_parquet(corpus / "clips"))


@pytest.mark.parametrize("form", ["transformers", "safetensors"])
def test_export_on_a_full_disk(disk, tmp_path, form):
    pytest.importorskip("transformers")
    torch.save(model_record(create_classifier("vit_test", 2, frames=4, img_size=32), "vit_test"), tmp_path / "c.pt")
    out = disk / ("hf" if form == "transformers" else "w.safetensors")
    argv = ["export", str(tmp_path / "c.pt"), "--format", form, "--out", str(out)]
    assert_stopped_cleanly(on_a_full_disk(disk, argv, room=64 * 1024), "export", disk)
    assert not out.exists() and not out.with_suffix(".json").exists() and not list(disk.glob(".*"))
    again = runner.invoke(app, argv)
    assert again.exit_code == 0, again.output


def test_training_on_a_full_disk(disk, tiny_unlabeled):
    run = disk / "run"
    argv = ["train", "pretrain", "--shards", str(tiny_unlabeled), "--out", str(run), "--model", "vit_test",
            "--frames", "4", "--stride", "2", "--img-size", "32", "--steps", "2", "--ckpt-every", "1", "--batch-size",
            "2", "--workers", "0", "--no-progress"]
    assert_stopped_cleanly(on_a_full_disk(disk, argv, room=96 * 1024), "training", disk)
    assert not list(run.glob("ckpt-*"))
    again = runner.invoke(app, argv)
    assert again.exit_code == 0, again.output
    assert (run / "ckpt-00000002.pt").is_file() and (run / "loss.png").is_file()
