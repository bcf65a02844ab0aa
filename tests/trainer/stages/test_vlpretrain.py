"""UMT's second stage on captioned corpora built by the corpus tools: from a stage-1 student and a
BERT folder a tiny run lowers every loss and resumes exactly, retrieval scores it from the command
line, and what cannot start a run says so."""

import json
import math
import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app
from manifests.generations import current
from manifests.schemas import TABLES, with_version
from manifests.tables import part_files
from tests.trainer.helpers import vl_settings
from trainer import checkpoint
from trainer.config import VLConfig
from trainer.errors import CheckpointError, ConfigError
from trainer.models.families import VIDEO_LANGUAGE
from trainer.settings import configure
from trainer.stages.progressive import run_progressive
from trainer.stages.vlpretrain import vlpretrain

LOSSES = ("loss_uma", "loss_vtc", "loss_vtm", "loss_mlm")


def parts(out) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_a_tiny_run_from_a_stage1_student_lowers_every_loss(tmp_path, vl_data, capsys):
    result = vlpretrain(configure(VLConfig, vl_settings(vl_data, tmp_path / "run", steps=100)), progress=False)
    first_line = capsys.readouterr().out
    assert "text tower from" in first_line and "new heads, cross-attention" in first_line
    assert "GFLOP per clip, MFU against" in first_line
    rows = parts(tmp_path / "run")
    assert all(r["clips_per_s_per_device"] > 0 and 0 < r["mfu"] < 1 for r in rows)
    for name in LOSSES:
        values = [r[name] for r in rows]
        first, last = sum(values[:25]) / 25, sum(values[-25:]) / 25
        # measured: uma 1.01 -> 0.24, vtc 1.52 -> 0.85, mlm 2.7 -> 1.45; vtm 0.73 -> 0.65, which in 100 steps is
        # the matching head learning that a third of its pairs match (a constant guess scores 0.64), below a coin flip
        assert last < (math.log(2) if name == "loss_vtm" else 0.95 * first) and last < first, (name, first, last)
    record = checkpoint.read(tmp_path / "run")
    assert record.family is VIDEO_LANGUAGE and record.family_args["text_args"]["fusion_layers"] == 1
    assert record.objective and all(k.startswith("uma.") for k in record.objective)  # the alignment heads, no teacher
    assert result["steps"] == 100


def test_a_stopped_run_resumes_exactly(tmp_path, vl_data):
    vlpretrain(configure(VLConfig, vl_settings(vl_data, tmp_path / "full", steps=6)), progress=False)
    vlpretrain(configure(VLConfig, vl_settings(vl_data, tmp_path / "split", steps=6, stop_after=3)), progress=False)
    vlpretrain(configure(VLConfig, vl_settings(vl_data, tmp_path / "split", steps=6)), progress=False)
    full, split = parts(tmp_path / "full"), parts(tmp_path / "split")
    assert [r["step"] for r in split] == list(range(1, 7))
    for a, b in zip(full, split, strict=True):
        for name in ("loss", *LOSSES):
            assert b[name] == pytest.approx(a[name], rel=1e-5, abs=1e-6), (a["step"], name)


def test_the_command_line_trains_and_scores_retrieval_with_both_rankings(tmp_path, vl_data):
    videos = str(vl_data["videos"])
    args = ["train", "vlpretrain", "--shards", videos, "--image-shards", str(vl_data["images"]), "--out",
            str(tmp_path / "run"), "--init", str(vl_data["student"]), "--text-weights", str(vl_data["bert"]),
            "--fusion-layers", "1", "--teacher", "clip_test", "--teacher-weights", "random", "--align-layers", "2",
            "--steps", "4", "--batch-size", "4", "--img-size", "32", "--workers", "1", "--val-shards", videos,
            "--rerank", "4", "--no-progress"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "best validation retrieval mean" in r.output and (tmp_path / "run" / "best.pt").is_file()
    r = CliRunner().invoke(app, ["eval", "--task", "retrieval", "--ckpt", str(tmp_path / "run" / "best.pt"),
                                 "--shards", videos, "--out", str(tmp_path / "ret"), "--rerank", "3",
                                 "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "contrastive: text-to-video R@1/5/10" in r.output and "re-ranked (top 3 by the matching head)" in r.output
    scored = json.loads((tmp_path / "ret" / "retrieval.json").read_text())
    assert scored["videos"] == 8 and scored["captions"] == 8
    assert scored["contrastive"]["t2v_r10"] == 100  # 8 videos: every answer is in the top 10
    assert (tmp_path / "ret" / "retrieval.png").stat().st_size > 5000


def test_what_cannot_start_a_run_says_so(tmp_path, vl_data):
    with pytest.raises(ConfigError, match="--text-weights FOLDER"):
        vlpretrain(configure(VLConfig, vl_settings(vl_data, tmp_path / "a", steps=1, text_weights=None)),
                   progress=False)
    without = configure(VLConfig, vl_settings(vl_data, tmp_path / "b", steps=1, uma_weight=0))  # as its help says
    assert (without.mask_type, without.encoder_mask, [o.name for o in without.chosen()]) == ("none", 0.0, ["vl"])
    with pytest.raises(ConfigError, match="needs --uma-weight above 0"):
        configure(VLConfig, vl_settings(vl_data, tmp_path / "b", steps=1, uma_weight=0, mask_type="semantic"))
    with pytest.raises(CheckpointError, match="at least one text-only layer"):
        vlpretrain(configure(VLConfig, vl_settings(vl_data, tmp_path / "c", steps=1, fusion_layers=3)), progress=False)
    r = CliRunner().invoke(app, ["eval", "--task", "retrieval", "--ckpt", str(vl_data["student"]), "--shards",
                                 str(vl_data["videos"]), "--out", str(tmp_path / "ret")])
    assert r.exit_code == 2 and "retrieval needs a video-language one" in r.output


def test_search_embed_and_progressive_from_a_trained_run(tmp_path, vl_data):
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({
        "out": str(tmp_path / "prog"), "model": "vit_test", "data": {"img_size": 32, "workers": 1},
        "pretrain": {"shards": [str(vl_data["videos"])], "objective": "umt", "teacher": "clip_test",
                     "teacher_weights": "random", "align_layers": 2, "steps": 2, "batch_size": 2,
                     "data": {"frames": 4}},
        "vlpretrain": {"shards": [str(vl_data["videos"])], "text_weights": str(vl_data["bert"]), "fusion_layers": 1,
                       "teacher": "clip_test", "teacher_weights": "random", "align_layers": 2, "steps": 3,
                       "batch_size": 4}}))
    summary = run_progressive(plan, progress=False, announce=lambda _: None)
    assert summary["finished"] and summary["stages"]["vlpretrain"]["steps"] == 3
    run = tmp_path / "prog" / "vlpretrain"
    assert checkpoint.read(run).config["init"].startswith(str(tmp_path / "prog" / "pretrain"))

    videos = str(vl_data["videos"])
    r = CliRunner().invoke(app, ["search", str(run), "a dark scene moving left", "a light scene moving up",
                                 "--shards", videos, "--top", "3", "--sheet", str(tmp_path / "s.png"), "--json",
                                 "--no-progress"])
    assert r.exit_code == 0, r.output
    found = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert [f["query"] for f in found] == ["a dark scene moving left", "a light scene moving up"]
    hits = found[0]["clips"]
    assert len(hits) == 3 and hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]
    assert {"shard", "video_id", "start_s", "end_s"} <= set(hits[0]) and (tmp_path / "s.png").stat().st_size > 3000

    # a corpus from elsewhere whose video ids hold terminal escapes: search prints them inert
    hostile = tmp_path / "hostile"
    shutil.copytree(videos, hostile)
    for part in part_files(current(hostile / "clips")):
        clips = pd.read_parquet(part).assign(video_id=lambda f: f["video_id"] + "\x1b]52;c;ZXZpbA==\x07\nforged")
        pq.write_table(pa.Table.from_pandas(clips, schema=with_version(TABLES["clips"], "clips"),
                                            preserve_index=False), part)
    r = CliRunner().invoke(app, ["search", str(run), "a dark scene", "--shards", str(hostile), "--top", "2",
                                 "--no-progress"])
    assert r.exit_code == 0 and "\x1b" not in r.stdout and "\\x1b]52;c;ZXZpbA==\\x07\\x0aforged" in r.stdout, r.stdout

    for extra, rows in (([], 8), (["--text"], 8)):
        out = tmp_path / f"emb{len(extra)}.parquet"
        r = CliRunner().invoke(app, ["embed", "--shards", videos, "--ckpt", str(run), "--out", str(out),
                                     "--no-progress", *extra])
        assert r.exit_code == 0, r.output
        table = pd.read_parquet(out)
        width = checkpoint.read(run).family_args["embed_dim"]
        assert len(table) == rows and len(table["embedding"].iloc[0]) == width
        assert np.allclose(np.linalg.norm(np.stack(table["embedding"]), axis=1), 1, atol=1e-5)  # the shared space
    assert "caption" in pd.read_parquet(tmp_path / "emb1.parquet").columns


def test_exports_give_the_same_embeddings_in_transformers_and_back_in_vmae(tmp_path, vl_data):
    import torch
    from safetensors.torch import load_file
    from transformers import BertModel, VideoMAEModel

    from trainer.checkpoint.export import export_safetensors, export_transformers
    from trainer.data.augment import to_model_input
    from trainer.data.captions import Tokenizer

    vlpretrain(configure(VLConfig, vl_settings(vl_data, tmp_path / "run", steps=2)), progress=False)
    ckpt = checkpoint.read(tmp_path / "run")
    ours = checkpoint.rebuild(ckpt)
    ids, keep = Tokenizer(ours.vocab, 32)(["a dark scene moving left", "a light scene moving up"])
    clips = torch.randint(0, 256, (2, 3, 4, 32, 32), dtype=torch.uint8)
    with torch.inference_mode():
        text = ours.text_embedding(ours.encode_text(ids, keep))
        video = ours.video_embedding(ours.encode_video(to_model_input(clips)[0])[0])

    back = checkpoint.rebuild(checkpoint.read(export_safetensors(ckpt, tmp_path / "model")))
    assert all(torch.equal(a, b) for a, b in zip(back.state_dict().values(), ours.state_dict().values(), strict=True))
    assert back.vocab == ours.vocab

    folder = export_transformers(ckpt, tmp_path / "hf")
    heads = load_file(folder / "heads.safetensors")
    bert, videomae = BertModel.from_pretrained(folder / "text").eval(), VideoMAEModel.from_pretrained(folder / "video")
    assert (folder / "text" / "vocab.txt").read_text().split("\n")[:len(ours.vocab)] == list(ours.vocab)
    with torch.inference_mode():
        cls = bert(input_ids=ids, attention_mask=keep.long()).last_hidden_state[:, 0]
        their_text = torch.nn.functional.normalize(cls @ heads["text_proj.weight"].T + heads["text_proj.bias"], dim=-1)
        pixels = to_model_input(clips)[0].permute(0, 2, 1, 3, 4)  # transformers: (B, T, C, H, W)
        pooled = videomae.eval()(pixel_values=pixels).last_hidden_state.mean(dim=1)
        normed = torch.nn.functional.layer_norm(pooled, pooled.shape[-1:], heads["vision_norm.weight"],
                                                heads["vision_norm.bias"], eps=1e-6)
        their_video = torch.nn.functional.normalize(normed @ heads["vision_proj.weight"].T + heads["vision_proj.bias"],
                                                    dim=-1)
    assert torch.allclose(their_text, text, atol=1e-5) and torch.allclose(their_video, video, atol=1e-4)


@pytest.mark.parametrize("sharding", [[], ["--fsdp"]], ids=["ddp", "fsdp"])
def test_two_ranks_under_torchrun_train_and_resume(tmp_path, vl_data, sharding):
    from tests.trainer.helpers import run, torchrun

    args = ["train", "vlpretrain", "--shards", str(vl_data["videos"]), "--image-shards", str(vl_data["images"]),
            "--out", str(tmp_path / "run"), "--init", str(vl_data["student"]), "--text-weights",
            str(vl_data["bert"]), "--fusion-layers", "1", "--teacher", "clip_test", "--teacher-weights", "random",
            "--align-layers", "2", "--steps", "4", "--batch-size", "2", "--img-size", "32", "--workers", "1",
            "--ckpt-every", "2", "--val-shards", str(vl_data["videos"]), "--val-every", "2", "--rerank", "2",
            "--no-progress", *sharding]
    run(torchrun(2, *args, "--stop-after", "2"))
    done = run(torchrun(2, *args))
    assert "resuming at step 2" in done.stdout
    rows = parts(tmp_path / "run")
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and all(np.isfinite(r["loss_vtc"]) for r in rows)
    assert all("val_contrastive_mean" in r for r in rows if r["step"] % 2 == 0)  # validated on every rank alike
    assert (tmp_path / "run" / "best.pt").is_file()
    whole = checkpoint.rebuild(checkpoint.read(tmp_path / "run"))  # a sharded checkpoint reads whole too
    assert whole.vocab and sum(p.numel() for p in whole.parameters()) > 0


def test_several_captions_per_video_count_each_or_join_into_a_paragraph(tmp_path, vl_data):
    from tests.helpers import build_corpus
    from trainer.eval.retrieval import run_retrieval

    src = vl_data["videos"].parent / "vl_videos_src"
    entries = [{"video": f"v{k}.mp4", "caption": [f"a scene {k}", f"the same scene {k} again"]} for k in range(4)]
    (tmp_path / "msrvtt_test1k.json").write_text(json.dumps(entries))
    build_corpus(tmp_path / "bench", "retrieval", [tmp_path / "msrvtt_test1k.json"], clip={"short_side": 48},
                 source_options={"videos": str(src)})
    vlpretrain(configure(VLConfig, vl_settings(vl_data, tmp_path / "run", steps=2)), progress=False)
    each = run_retrieval(tmp_path / "run", [str(tmp_path / "bench")], tmp_path / "each", rerank=2, progress=False)
    joined = run_retrieval(tmp_path / "run", [str(tmp_path / "bench")], tmp_path / "joined", rerank=2,
                           paragraph=True, progress=False)
    assert (each["videos"], each["captions"], joined["videos"], joined["captions"]) == (4, 8, 4, 4)
    for result in (each, joined):  # 4 videos: every answer within the top 5, both ways, both rankings
        assert all(result[how][k] == 100 for how in ("contrastive", "reranked") for k in ("t2v_r5", "v2t_r5"))
