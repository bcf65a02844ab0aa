"""Using trained models from the command line: fine-tune, eval (multi-view, Parquet + PNG),
predict on real files, embed, and the progressive run resuming after a kill between stages."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()
DATA = ["--frames", "4", "--stride", "2", "--img-size", "32", "--workers", "1", "--shuffle-buffer", "4"]


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory, motion_corpora):
    out = tmp_path_factory.mktemp("ft") / "run"
    four = str(motion_corpora["four"])
    r = runner.invoke(app, ["train", "finetune", "--shards", four, "--val-shards", four, "--out", str(out),
                            "--model", "vit_test", "--steps", "4", "--batch-size", "4", "--no-flip", "--no-progress",
                            *DATA])
    assert r.exit_code == 0, r.output
    assert "best validation top-1" in r.output
    return out


def test_eval_writes_scores_that_match_its_predictions(tmp_path, finetuned, motion_corpora):
    out = tmp_path / "eval"
    r = runner.invoke(app, ["eval", "--shards", str(motion_corpora["four"]), "--ckpt", str(finetuned / "best.pt"),
                            "--clips", "2", "--crops", "3", "--out", str(out), "--no-progress"])
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text())
    pred = pd.read_parquet(out / "predictions.parquet")
    per_class = pd.read_parquet(out / "per_class.parquet")
    confusion = pd.read_parquet(out / "confusion.parquet")
    assert len(pred) == summary["clips"] == 8 and summary["clips_per_video"] == 2 and summary["crops"] == 3
    assert summary["top1"] == pytest.approx(pred["correct"].mean())
    assert confusion["clips"].sum() == 8 and per_class["clips"].sum() == 8
    hits = confusion[confusion.label == confusion.pred].set_index("label")["clips"]
    for row in per_class.itertuples():
        assert row.top1 == pytest.approx(hits.get(row.label, 0) / row.clips)
    assert (out / "confusion.png").stat().st_size > 5000
    again = runner.invoke(app, ["eval", "--shards", str(motion_corpora["four"]), "--ckpt", str(finetuned),
                                "--out", str(out), "--no-progress"])
    assert again.exit_code == 2 and "already holds an evaluation" in again.output  # nothing overwritten


def test_eval_refuses_an_unlabeled_corpus(tmp_path, finetuned, videos):
    from tests.helpers import build_corpus

    build_corpus(tmp_path / "c", "movies", [videos / "long.mp4"], clip={"clip_seconds": 3})
    r = runner.invoke(app, ["eval", "--shards", str(tmp_path / "c"), "--ckpt", str(finetuned), "--out",
                            str(tmp_path / "e")])
    assert r.exit_code == 2 and "unlabeled corpus" in r.output and not (tmp_path / "e").exists()


def test_predict_on_real_files_and_an_undecodable_one(finetuned, motion_corpora, videos):
    good = sorted((motion_corpora["four"].parent / "four_src").glob("*.mp4"))[:2]
    r = runner.invoke(app, ["predict", *map(str, good), str(videos / "garbage.mp4"), "--ckpt", str(finetuned),
                            "--topk", "3", "--json"])
    assert r.exit_code == 1  # one file failed
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [len(x["top"]) for x in lines[:2]] == [3, 3]
    assert {t["class"] for t in lines[0]["top"]} <= {"moving down", "moving left", "moving right", "moving up"}
    assert sum(t["prob"] for t in lines[0]["top"]) <= 1.0001
    assert "cannot decode" in lines[2]["error"] and "garbage.mp4" in lines[2]["error"]
    table = runner.invoke(app, ["predict", str(good[0]), "--ckpt", str(finetuned), "--topk", "2"])
    assert table.exit_code == 0 and table.output.count("moving") == 2


def test_embed_from_classifier_and_pretraining_checkpoints(tmp_path, finetuned, motion_corpora):
    out = tmp_path / "emb.parquet"
    r = runner.invoke(app, ["embed", "--shards", str(motion_corpora["four"]), "--ckpt", str(finetuned), "--out",
                            str(out), "--no-progress"])
    assert r.exit_code == 0, r.output
    emb = pd.read_parquet(out)
    clips = pd.read_parquet(motion_corpora["four"] / "clips")
    assert sorted(emb.clip_key) == sorted(clips.clip_key)
    vectors = np.stack(emb.embedding.to_numpy())
    assert vectors.shape == (8, 64) and np.isfinite(vectors).all() and vectors.std(axis=0).mean() > 0
    r = runner.invoke(app, ["embed", "--shards", str(motion_corpora["four"]), "--ckpt", str(finetuned), "--out",
                            str(out)])
    assert r.exit_code == 2 and "exists" in r.output
    pre = tmp_path / "pre"
    r = runner.invoke(app, ["train", "pretrain", "--shards", str(motion_corpora["six"]), "--out", str(pre), "--model",
                            "vit_test", "--steps", "1", "--batch-size", "2", "--no-progress", *DATA])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["embed", "--shards", str(motion_corpora["six"]), "--ckpt", str(pre), "--out",
                            str(tmp_path / "pre.parquet"), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert len(pd.read_parquet(tmp_path / "pre.parquet")) == 12


def test_a_classifier_goes_to_transformers_and_back_with_the_same_predictions(tmp_path, finetuned, motion_corpora):
    transformers = pytest.importorskip("transformers", reason="the hf extra is not installed")

    best, folder, weights = finetuned / "best.pt", tmp_path / "hf", tmp_path / "model.safetensors"
    r = runner.invoke(app, ["export", str(best), "--out", str(folder)])
    assert r.exit_code == 0 and "VideoMAEForVideoClassification.from_pretrained" in r.output, r.output
    r = runner.invoke(app, ["export", str(finetuned), "--format", "safetensors", "--out", str(weights)])
    assert r.exit_code == 0 and (tmp_path / "model.json").is_file(), r.output
    again = runner.invoke(app, ["export", str(best), "--out", str(folder)])
    assert again.exit_code == 2 and "--overwrite" in again.output
    classes = set(transformers.VideoMAEForVideoClassification.from_pretrained(folder).config.id2label.values())
    assert classes == {"moving up", "moving right", "moving left", "moving down"}
    video = str(sorted((motion_corpora["four"].parent / "four_src").glob("*.mp4"))[0])
    predictions = []
    for ckpt in (best, folder, weights):
        r = runner.invoke(app, ["predict", video, "--ckpt", str(ckpt), "--json", "--clips", "2", "--crops", "1"])
        assert r.exit_code == 0, r.output
        predictions.append(json.loads(r.stdout)["top"])
    assert predictions[0] == predictions[1] == predictions[2]  # the same weights, rebuilt from each file
    r = runner.invoke(app, ["train", "finetune", "--shards", str(motion_corpora["four"]), "--out", str(tmp_path / "ft"),
                            "--init", str(folder), "--steps", "1", "--batch-size", "2", "--no-progress", *DATA])
    assert r.exit_code == 0 and "(head kept)" in r.output, r.output


@pytest.mark.slow
def test_progressive_resumes_after_a_kill_between_stages(tmp_path, motion_corpora):
    data = {"frames": 4, "stride": 2, "img_size": 32, "workers": 1, "shuffle_buffer": 4}
    plan = {"out": str(tmp_path / "run"), "model": "vit_test", "data": data,
            "pretrain": {"shards": [str(motion_corpora["six"])], "steps": 3, "batch_size": 2,
                         "encoder_mask": 0.75},
            "postpretrain": {"shards": [str(motion_corpora["six"])], "steps": 40, "batch_size": 2},
            "finetune": {"shards": [str(motion_corpora["four"])], "steps": 2, "batch_size": 2, "flip": False},
            "eval": {"shards": [str(motion_corpora["four"])], "clips": 1, "crops": 1}}
    config = tmp_path / "plan.yaml"
    config.write_text(yaml.safe_dump(plan))
    cmd = [sys.executable, "-m", "cli.main", "train", "progressive", "--config", str(config), "--no-progress"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 240
    while not (tmp_path / "run" / "postpretrain" / "metrics.jsonl").exists():  # stage 2 under way
        assert proc.poll() is None and time.time() < deadline, proc.stdout.read().decode()
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (tmp_path / "run" / "pretrain" / "done.json").is_file()
    assert not (tmp_path / "run" / "postpretrain" / "done.json").exists()
    first = json.loads((tmp_path / "run" / "pretrain" / "done.json").read_text())
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pretrain: finished before" in done.stdout
    assert json.loads((tmp_path / "run" / "pretrain" / "done.json").read_text()) == first  # not redone
    for stage in ("postpretrain", "finetune", "eval"):
        assert (tmp_path / "run" / stage / "done.json").is_file()
    assert json.loads((tmp_path / "run" / "postpretrain" / "done.json").read_text())["steps"] == 40
    assert (tmp_path / "run" / "eval" / "confusion.png").is_file()
