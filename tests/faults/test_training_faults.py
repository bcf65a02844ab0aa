"""Faults during training: a checkpoint write killed half-way, a corrupt shard mid-epoch, a loss
that is not finite, a rank that dies. Each ends in a known state with a message; nothing bad is
written."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from trainer import checkpoint
from trainer.checkpoint import sharded
from trainer.config import PretrainConfig
from trainer.errors import TrainingError
from trainer.settings import configure
from trainer.stages.loop import run_stage
from trainer.stages.pretrain import PretrainStage

VMAE = str(Path(sys.executable).parent / "vmae")
DATA = {"frames": 8, "stride": 1, "img_size": 32, "workers": 1, "shuffle_buffer": 4}


def config(corpus, out, **kw):
    return configure(PretrainConfig, {"shards": [str(corpus)], "out": str(out), "model": "vit_test",
                                         "batch_size": 2, "lr": 1e-3, "ckpt_every": 2, "encoder_mask": 0.75,
                                         "data": DATA, **kw})


def metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def finite(path: Path) -> bool:
    state = checkpoint.load_file(path)
    return all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


@pytest.mark.parametrize("fsdp", [False, True], ids=["file", "sharded"])
def test_sigkill_while_a_checkpoint_is_written_leaves_the_previous_one_and_the_rerun_resumes(tmp_path, tiny_unlabeled,
                                                                                           fsdp):
    # vit_small: a checkpoint of ~300 MB (weights and AdamW state) takes long enough to be caught writing
    out = tmp_path / "run"
    args = [VMAE, "train", "pretrain", "--shards", str(tiny_unlabeled), "--out", str(out), "--model", "vit_small",
            "--steps", "50", "--batch-size", "1", "--ckpt-every", "1", "--frames", "4", "--stride", "1",
            "--img-size", "32", "--workers", "0", "--no-progress", *(["--fsdp"] if fsdp else [])]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    caught = None
    try:
        deadline = time.monotonic() + 240
        while caught is None and proc.poll() is None and time.monotonic() < deadline:
            if checkpoint.checkpoints(out):  # a complete one exists: now catch the next one half-written
                caught = next((p for p in out.glob(".ckpt-*.tmp")), None)
        if caught is not None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert caught is not None, f"no checkpoint write was caught: {proc.stderr.read()[-2000:]}"
    kept = checkpoint.latest(out)
    assert kept is not None and sharded.is_sharded(kept) == fsdp and finite(kept)
    step = int(kept.name.split("-")[1].removesuffix(".pt"))
    done = subprocess.run([*args, "--stop-after", "1"], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"resuming at step {step} from {kept}" in done.stdout
    assert checkpoint.latest(out).name.startswith(f"ckpt-{step + 1:08d}")
    assert not list(out.glob(".ckpt-*.tmp"))  # what the killed write left is cleared


def test_a_corrupt_shard_mid_epoch_is_skipped_and_counted(tmp_path, tiny_unlabeled):
    bad = tmp_path / "c"
    shutil.copytree(tiny_unlabeled, bad)
    tars = sorted((bad / "tars").glob("*.tar"))
    data = tars[1].read_bytes()
    tars[1].write_bytes(data[:len(data) // 2])  # cut in the middle of a member, as a failed copy leaves it
    result = run_stage(PretrainStage(config(bad, tmp_path / "run", steps=12)), progress=False)
    assert result["steps"] == 12
    rows = metrics(tmp_path / "run")
    assert max(r.get("bad_shards", 0) for r in rows) >= 1
    assert rows and all(math.isfinite(r["loss"]) for r in rows)


class NanAt(PretrainStage):
    """Stage 1 whose loss is NaN at the given steps (as a bad batch or an overflow makes it)."""

    def __init__(self, cfg, bad_steps: set[int]):
        super().__init__(cfg)
        self.bad_steps, self.calls = bad_steps, 0

    def build_objective(self, model, env):
        objective, stage = super().build_objective(model, env), self
        forward = objective.forward

        def poisoned(model, batch):
            stage.calls += 1
            loss, parts = forward(model, batch)
            return (loss * float("nan") if stage.calls in stage.bad_steps else loss), parts

        objective.forward = poisoned
        return objective


def test_nan_stop_stops_with_a_message_and_writes_no_bad_checkpoint(tmp_path, tiny_unlabeled):
    out = tmp_path / "run"
    with pytest.raises(TrainingError, match=r"loss is nan at step 5.*last good checkpoint is .*ckpt-00000004"):
        run_stage(NanAt(config(tiny_unlabeled, out, steps=10), {5}), progress=False)
    assert [p.name for p in checkpoint.checkpoints(out)] == ["ckpt-00000002.pt", "ckpt-00000004.pt"]
    assert finite(checkpoint.latest(out))


def test_nan_skip_skips_the_step_without_touching_the_weights(tmp_path, tiny_unlabeled):
    out = tmp_path / "run"
    result = run_stage(NanAt(config(tiny_unlabeled, out, steps=8, nan="skip", ckpt_every=1, keep_checkpoints=10),
                             {4}), progress=False)
    assert result["steps"] == 8
    rows = {r["step"]: r for r in metrics(out)}
    assert rows[4]["loss"] != rows[4]["loss"] and rows[4]["skipped_steps"] == 1 and rows[8]["skipped_steps"] == 1
    before, after = (checkpoint.load_file(out / f"ckpt-{s:08d}.pt")["model"] for s in (3, 4))
    assert all(torch.equal(before[k], after[k]) for k in before)  # the NaN step changed nothing
    assert all(finite(p) for p in checkpoint.checkpoints(out))
    # a run whose every step is bad stops instead of skipping forever
    with pytest.raises(TrainingError, match="in a row"):
        run_stage(NanAt(config(tiny_unlabeled, tmp_path / "bad", steps=40, nan="skip"), set(range(1, 100))),
                  progress=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_a_rank_that_dies_makes_the_others_stop_with_a_message(tmp_path, tiny_unlabeled):
    # two ranks started by hand, as on two nodes: no torchrun agent stops the survivor for us
    port = _free_port()
    out = tmp_path / "run"
    ranks = []
    for rank in range(2):
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2",
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
        ranks.append(subprocess.Popen(
            [VMAE, "train", "pretrain", "--shards", str(tiny_unlabeled), "--out", str(out), "--model", "vit_test",
             "--steps", "100000", "--batch-size", "2", "--ckpt-every", "5", "--frames", "8", "--stride", "1",
             "--img-size", "32", "--workers", "1", "--shuffle-buffer", "2", "--no-progress"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        deadline = time.monotonic() + 180
        while not checkpoint.checkpoints(out) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert checkpoint.checkpoints(out), ranks[0].stderr.read()[-2000:] if ranks[0].poll() is not None else ""
        ranks[1].send_signal(signal.SIGKILL)
        _, err = ranks[0].communicate(timeout=120)  # stops by itself, well before the process group's timeout
    finally:
        for p in ranks:
            p.kill()
    assert ranks[0].returncode == 2, err[-2000:]
    assert "rank 0 of 2 lost contact with the others" in err and "rerun the same command to resume" in err
