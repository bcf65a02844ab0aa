"""FSDP and multi-process training on CPU (gloo), through torchrun as users run it: sharded runs
take the same steps as one process, a run that loses a rank resumes from its sharded checkpoint on
another number of ranks, sharded checkpoints load whole into one process, and stages 2-3 and eval
run under torchrun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.trainer.helpers import VMAE, run, torchrun
from trainer import checkpoint
from trainer.checkpoint import sharded

TINY = ["--model", "vit_test", "--frames", "8", "--stride", "1", "--img-size", "32", "--workers", "1",
        "--shuffle-buffer", "2", "--no-progress"]
LABELED = ["--model", "vit_test", "--frames", "4", "--stride", "2", "--img-size", "32", "--workers", "1",
           "--shuffle-buffer", "4", "--no-progress"]


def test_two_fsdp_ranks_take_the_same_steps_as_one_process_with_the_same_global_batch(tmp_path):
    script = Path(__file__).with_name("fsdp_steps.py")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    subprocess.run([sys.executable, str(script), str(tmp_path / "one.json")], check=True, env=env, timeout=120)
    two_ranks = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                                "2", str(script), str(tmp_path / "two.json")], env=env, timeout=180,
                               capture_output=True, text=True)
    assert two_ranks.returncode == 0, two_ranks.stderr[-3000:]  # what torchrun and the ranks said
    one, two = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("one", "two"))
    assert (one["world"], one["sharded"], two["world"], two["sharded"]) == (1, False, 2, True)
    assert one["losses"][0] != one["losses"][-1]  # the steps changed the weights
    assert two["losses"] == pytest.approx(one["losses"], rel=1e-5)


def _ranks(agent: int) -> dict[int, int]:
    """RANK -> pid of torchrun's workers."""
    found = {}
    for pid in Path(f"/proc/{agent}/task/{agent}/children").read_text().split():
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        rank = next((int(e[5:]) for e in env if e.startswith(b"RANK=")), None)
        if rank is not None:
            found[rank] = int(pid)
    return found


@pytest.mark.slow
def test_a_sharded_run_that_loses_a_rank_resumes_on_one_process_and_loads_whole(tmp_path, tiny_unlabeled):
    corpus, out = tiny_unlabeled, tmp_path / "run"
    args = ["train", "pretrain", "--shards", str(corpus), "--out", str(out), "--fsdp", "--steps", "400",
            "--batch-size", "2", "--ckpt-every", "3", *TINY]
    agent = subprocess.Popen(torchrun(2, *args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 180
        while not checkpoint.checkpoints(out) and time.monotonic() < deadline and agent.poll() is None:
            time.sleep(0.1)
        saved = checkpoint.checkpoints(out)
        assert saved and sharded.is_sharded(saved[-1]), "no sharded checkpoint was written"
        os.kill(_ranks(agent.pid)[1], signal.SIGKILL)
        log, _ = agent.communicate(timeout=120)
    finally:
        agent.kill()
    assert agent.returncode != 0 and "FAILED" in log  # torchrun stopped rank 0 and said why
    last = checkpoint.checkpoints(out)[-1]
    step = int(last.name.split("-")[1])
    # another number of ranks: one process, resharding the checkpoint of two
    done = run([VMAE, *args, "--stop-after", "2"])
    assert f"resuming at step {step}" in done.stdout and "with 1 ranks instead of 2" in done.stdout
    resumed = checkpoint.checkpoints(out)[-1]
    assert resumed.name == f"ckpt-{step + 2:08d}" and sharded.is_sharded(resumed)
    # loaded whole into one process, as eval, embed and --init do
    ckpt = checkpoint.read(out)
    assert ckpt.kind == "pretrain" and ckpt.model_name == "vit_test"
    net = checkpoint.new_classifier(ckpt, 3)
    fresh = {k: v.clone() for k, v in net.state_dict().items()}
    checkpoint.load_weights(net, ckpt, None)
    assert not torch.equal(fresh["blocks.0.attn.qkv.weight"], net.state_dict()["blocks.0.attn.qkv.weight"])
    assert torch.equal(net.state_dict()["blocks.0.attn.qkv.weight"], ckpt.state["encoder.blocks.0.attn.qkv.weight"])
    done = run([VMAE, "embed", "--shards", str(corpus), "--ckpt", str(out), "--out", str(tmp_path / "e.parquet"),
                "--no-progress"])
    assert "embeddings" in done.stdout


@pytest.mark.slow
def test_stages_2_and_3_with_fsdp_and_ddp_and_eval_under_torchrun(tmp_path, motion_corpora):
    six, four = motion_corpora["six"], motion_corpora["four"]
    # stage 2 sharded, validated every 2 steps: best.pt is gathered whole from the shards
    run(torchrun(2, "train", "postpretrain", "--shards", str(six), "--out", str(tmp_path / "s2"), "--fsdp",
                 "--steps", "4", "--batch-size", "2", "--val-shards", str(six), "--val-every", "2", *LABELED))
    best = checkpoint.read(tmp_path / "s2" / "best.pt")
    assert best.kind == "classifier" and best.classes == 6
    assert sharded.is_sharded(checkpoint.latest(tmp_path / "s2"))
    # stage 3 with DDP from the sharded stage-2 run: the head is sliced by class name
    done = run(torchrun(2, "train", "finetune", "--shards", str(four), "--out", str(tmp_path / "s3"),
                        "--init", str(tmp_path / "s2"), "--steps", "4", "--batch-size", "2", *LABELED))
    assert "world 2" in done.stdout and "sliced from 6 classes" in done.stdout
    s3 = checkpoint.latest(tmp_path / "s3")
    assert s3.name == "ckpt-00000004.pt"
    # eval on two ranks (each takes half the shards) gives what one process gives
    run(torchrun(2, "eval", "--shards", str(four), "--ckpt", str(s3), "--out", str(tmp_path / "e2"), "--clips", "2",
                 "--crops", "1", "--no-progress"))
    run([VMAE, "eval", "--shards", str(four), "--ckpt", str(s3), "--out", str(tmp_path / "e1"), "--clips", "2",
         "--crops", "1", "--no-progress"])
    two, one = (json.loads((tmp_path / e / "summary.json").read_text()) for e in ("e2", "e1"))
    assert two["clips"] == one["clips"] == 8 and two["top1"] == pytest.approx(one["top1"])
