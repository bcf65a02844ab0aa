"""UMT as stage 1 on a corpus built by the corpus tools: from the command line the alignment loss
falls and a stopped run resumes to the same losses; its checkpoint then feeds stages 2 and 3 and
eval through `vmae train progressive`, which keep the student's 8 sparse frames and tubelet 1."""

import json

import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app
from tests.trainer.helpers import losses
from trainer import checkpoint
from trainer.stages.progressive import run_progressive

runner = CliRunner()
UMT = ["--objective", "umt", "--teacher", "clip_test", "--teacher-weights", "random", "--align-layers", "2",
       "--model", "vit_test", "--img-size", "32", "--batch-size", "4", "--lr", "2e-3", "--workers", "2",
       "--shuffle-buffer", "4", "--warmup-fraction", "0.1", "--ckpt-every", "3", "--no-progress"]


def run(corpus, out, *extra):
    r = runner.invoke(app, ["train", "pretrain", "--shards", str(corpus), "--out", str(out), *UMT, *extra])
    assert r.exit_code == 0, r.output
    return r.output


def test_umt_from_the_command_line_lowers_the_loss_and_resumes_exactly(tmp_path, motion_corpora):
    six = motion_corpora["six"]
    first_line = run(six, tmp_path / "run", "--steps", "30")
    assert "objective umt, semantic mask" in first_line and "GFLOP per clip, MFU against" in first_line
    # the teacher's forward is counted (forward only) and the student's step: MFU at every step
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all(0 < r["mfu"] < 1 for r in rows)
    got = losses(tmp_path / "run")
    first, last = sum(got[s] for s in range(1, 11)) / 10, sum(got[s] for s in range(21, 31)) / 10
    assert last < 0.7 * first, (first, last)  # measured: about 1.05 -> 0.3
    record = checkpoint.load_file(tmp_path / "run" / "ckpt-00000030.pt")
    assert record["model_args"]["tubelet"] == 1 and record["model_args"]["decoder_depth"] == 0
    assert record["config"]["data"]["sampling"] == "segments" and record["objective"]  # the heads
    run(six, tmp_path / "full", "--steps", "8")
    run(six, tmp_path / "split", "--steps", "8", "--stop-after", "4")
    run(six, tmp_path / "split", "--steps", "8")
    full, split = losses(tmp_path / "full"), losses(tmp_path / "split")
    assert sorted(split) == list(range(1, 9))
    for s in range(5, 9):  # heads, RNG (semantic masks) and data position restored
        assert split[s] == pytest.approx(full[s], rel=1e-5, abs=1e-6), s


def test_mae_plus_umt_logs_both_losses_with_their_weights(tmp_path, motion_corpora):
    run(motion_corpora["six"], tmp_path / "both", "--objective", "mae+umt", "--objective-weight", "mae=0.5",
        "--steps", "2")
    rows = [json.loads(line) for line in (tmp_path / "both" / "metrics.jsonl").read_text().splitlines()]
    for r in rows:
        assert r["loss"] == pytest.approx(0.5 * r["loss_mae"] + r["loss_umt"], rel=1e-5)
    assert checkpoint.read(tmp_path / "both").model_args["decoder_depth"] == 1  # the student keeps its decoder


@pytest.mark.slow
def test_a_umt_checkpoint_feeds_stages_2_and_3_and_eval(tmp_path, motion_corpora):
    six, four = str(motion_corpora["six"]), str(motion_corpora["four"])
    data = {"img_size": 32, "workers": 1, "shuffle_buffer": 4}
    plan = {"out": str(tmp_path / "run"), "model": "vit_test", "data": data,
            "pretrain": {"shards": [six], "steps": 3, "batch_size": 2, "objective": "umt", "teacher": "clip_test",
                         "teacher_weights": "random", "align_layers": 2},
            "postpretrain": {"shards": [six], "steps": 3, "batch_size": 2},
            "finetune": {"shards": [four], "steps": 2, "batch_size": 2, "flip": False},
            "eval": {"shards": [four], "clips": 2, "crops": 1}}
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(plan))
    result = run_progressive(tmp_path / "plan.yaml", progress=False, announce=lambda _: None)
    assert result["finished"]
    for stage in ("postpretrain", "finetune"):  # the student's geometry carried through both stages
        ckpt = checkpoint.read(tmp_path / "run" / stage)
        assert ckpt.kind == "classifier" and ckpt.model_args["tubelet"] == 1 and ckpt.model_args["frames"] == 8
        assert ckpt.config["data"]["sampling"] == "segments"
    summary = json.loads((tmp_path / "run" / "eval" / "summary.json").read_text())
    assert summary["clips"] == 8 and summary["sampling"] == "segments" and summary["tubelet"] == 1
