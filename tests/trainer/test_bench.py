"""`vmae bench` on the CPU with a tiny model: every row of the table, JSON that parses, a worker
advice that follows from the measured rates, and peaks from the datasheet table or measured.
No timed asserts: the figures only have to be there and consistent."""

import json
import math

from typer.testing import CliRunner

from cli.main import app
from trainer.bench.run import Measured, verdict
from trainer.measure.peaks import datasheet_peak, peak_for, precision_warning, slow_precision_note

ARGS = ["bench", "--model", "vit_test", "--frames", "4", "--img-size", "32", "--precision", "fp32",
        "--batch-size", "2", "--steps", "1"]


def test_the_json_has_every_part_and_the_advice_follows_from_the_rates(tiny_unlabeled):
    result = CliRunner().invoke(app, [*ARGS, "--shards", str(tiny_unlabeled), "--max-workers", "2", "--json"])
    assert result.exit_code == 0, result.output
    m = json.loads(result.stdout)
    assert set(m["decode"]) == {"torchcodec", "decord"} and all(v > 0 for v in m["decode"].values())
    assert set(m["loader"]) == {"1", "2"} and all(v > 0 for v in m["loader"].values())
    assert m["step_clips_s"] > 0 and m["step_peak_gb"] > 0 and 0 < m["mfu"] < 1
    assert m["peak_source"].startswith("measured")  # a CPU is in no datasheet table
    # medians of rounds, in turns
    assert set(m["spread"]) == {"decode torchcodec", "decode decord", "loader 1", "loader 2", "model step"}
    assert all(v >= 0 for v in m["spread"].values())
    assert m["workers_needed"] == max(1, math.ceil(m["step_clips_s"] / m["loader"]["1"]))
    assert m["cores_suffice"] == (m["workers_needed"] * m["devices"] <= m["cores"])


def test_the_table_has_a_row_per_part(tiny_unlabeled):
    result = CliRunner().invoke(app, [*ARGS, "--shards", str(tiny_unlabeled), "--objective", "supervised",
                                      "--decoder", "torchcodec", "--max-workers", "2"])
    assert result.exit_code == 0, result.output
    for row in ("| decode, one worker, torchcodec (cpu) |", "clips/s (spread ", "| loader, 1 worker(s) |",
                "| loader, 2 worker(s) |",
                "| model step (data on the device) |", "| peak memory |", "| model FLOPs per clip", "| MFU |",
                "| loader workers needed per device |", "| enough cores for 1 device(s) |"):
        assert row in result.stdout, row
    assert "decord" not in result.stdout
    # what the figures hold for: the fine-tuning stage's 2 views, a corpus at its source's rate, a CPU-only machine
    assert "| what the loader read and did | 2 view(s) per decoded clip; clips stored at their source's rate (10 fps)" \
        "; views resized on the loader; torchcodec |" in result.stdout
    assert "the corpus has no labels: the loader measured is the pretraining one" in result.stdout


def test_every_stage_reads_its_own_loader(motion_corpora, vl_data):
    """supervised: the labeled loader (RandAugment, two views per clip) on a labeled corpus; vl:
    the captioned loader and a video step of every loss, its text tower and teacher counted."""
    labeled = CliRunner().invoke(app, [*ARGS, "--shards", str(motion_corpora["six"]), "--objective", "supervised",
                                       "--max-workers", "1", "--rounds", "1", "--json"])
    assert labeled.exit_code == 0, labeled.output
    m = json.loads(labeled.stdout)
    assert m["loader"]["1"] > 0 and not m["notes"]
    vl = CliRunner().invoke(app, [*ARGS, "--shards", str(vl_data["videos"]), "--objective", "vl", "--teacher",
                                  "clip_test", "--align-layers", "2", "--max-workers", "1", "--rounds", "1", "--json"])
    assert vl.exit_code == 0, vl.output
    m = json.loads(vl.stdout)
    assert m["loader"]["1"] > 0 and m["step_clips_s"] > 0 and 0 < m["mfu"] < 1
    # BERT-base's 9 text-only layers over 32 caption tokens are 4.1 GFLOP, run for VTC and again for MLM, trained
    assert m["gflops_per_clip"] > 20


def test_under_torchrun_the_ranks_step_together_sharded_and_rank_0_reports(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    vmae = str(Path(sys.executable).parent / "vmae")
    args = [a for a in ARGS if a != "bench"]
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "--no-python", vmae, "bench", *args, "--precision", "bf16", "--fsdp", "--json"],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    m = json.loads(done.stdout)  # one report: rank 0's
    assert m["parallel"] == "FSDP over 2 ranks" and m["devices"] == 2 and m["step_clips_s"] > 0


def test_umt_and_its_sum_with_mae_count_the_teacher(tiny_unlabeled):
    for objective, shards in (("umt", ["--shards", str(tiny_unlabeled), "--max-workers", "1"]), ("mae+umt", [])):
        result = CliRunner().invoke(app, [*ARGS, "--objective", objective, "--teacher", "clip_test", "--align-layers",
                                          "2", *shards, "--json"])
        assert result.exit_code == 0, result.output
        m = json.loads(result.stdout)
        assert m["step_clips_s"] > 0 and 0 < m["mfu"] < 1 and m["gflops_per_clip"] > 0
        if shards:  # UMT's own data: its presets' sparse frames, with its semantic mask drawn in the step
            assert list(m["loader"]) == ["1"] and m["loader"]["1"] > 0


def test_without_shards_only_the_model_is_measured_and_bad_options_are_refused():
    result = CliRunner().invoke(app, [*ARGS, "--json"])
    m = json.loads(result.stdout)
    assert m["decode"] == {} and m["loader"] == {} and m["workers_needed"] is None and m["step_clips_s"] > 0
    assert "no worker count is advised" in m["notes"][0]
    bad = CliRunner().invoke(app, [*ARGS, "--objective", "umt-ish"])
    assert bad.exit_code == 2 and "--objective must be one of" in bad.output


def test_workers_needed_is_the_step_rate_over_one_workers_rate():
    m = Measured("cuda", "NVIDIA H200", devices=8, cores=64, loader={1: 3.0, 2: 5.5}, step_clips_s=10.0)
    verdict(m)
    assert m.workers_needed == 4 and m.cores_suffice  # 32 workers for 8 devices on 64 cores
    m = Measured("cuda", "NVIDIA H200", devices=8, cores=16, loader={1: 3.0}, step_clips_s=10.0)
    verdict(m)
    assert m.workers_needed == 4 and not m.cores_suffice


def test_known_gpus_come_from_the_datasheet_and_unknown_ones_are_measured():
    assert datasheet_peak("NVIDIA H200", "bf16").flops == 989e12
    assert datasheet_peak("NVIDIA A100-SXM4-80GB", "fp32").source == "datasheet: A100 fp32"
    assert datasheet_peak("NVIDIA A10", "bf16").source == "datasheet: A10 bf16"  # not the A100's
    assert datasheet_peak("NVIDIA L40S", "bf16").flops == 362e12  # not the L4's
    assert datasheet_peak("NVIDIA Z9000", "bf16") is None
    measured = peak_for("cpu", "NVIDIA Z9000", "fp32")
    assert measured.source.startswith("measured") and measured.flops > 1e8


def test_measuring_a_peak_leaves_the_runs_random_stream_alone():
    """A training run measures its device's peak at its start: that must not change its draws."""
    import torch

    from trainer.measure.peaks import measured_peak

    torch.manual_seed(1)
    untouched = torch.rand(4)
    torch.manual_seed(1)
    measured_peak("cpu", "fp32", size=64)
    assert torch.equal(torch.rand(4), untouched)


def test_compile_and_a_profile_say_where_the_step_time_goes(tmp_path):
    import torch._dynamo

    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    result = CliRunner().invoke(app, [*ARGS, "--compile", "--profile", str(tmp_path / "prof"), "--json"])
    assert result.exit_code == 0, result.output
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] > 0  # the step ran compiled
    m = json.loads(result.stdout)
    trace = json.loads((tmp_path / "prof" / "trace.json").read_text())
    assert len(trace["traceEvents"]) > 100 and not list((tmp_path / "prof").glob("*.partial"))
    ops = m["top_ops"]
    assert len(ops) == 10 and all(o["ms_per_step"] > 0 for o in ops)
    shares = [o["share"] for o in ops]
    assert shares == sorted(shares, reverse=True) and 0 < sum(shares) <= 1


def test_a_precision_this_cpu_emulates_is_called_out():
    """A CPU without bf16 instructions runs bf16 matmuls 40x slower or worse than fp32 (this
    project's machine: 150x); a run or bench in bf16 there says so and what to use instead."""
    note = slow_precision_note("bf16", 1e9, 150e9)
    assert note.startswith("--precision bf16 runs matmuls 150x slower than fp32") and "--precision fp32" in note
    assert slow_precision_note("bf16", 80e9, 150e9) == ""  # within 2x of fp32: nothing to say
    assert precision_warning("cpu", "fp32", peak_for("cpu", "CPU", "fp32")) == ""
    assert precision_warning("cuda", "bf16", datasheet_peak("NVIDIA H200", "bf16")) == ""


def test_the_bench_takes_the_train_commands_settings_for_the_stage_it_measures(tmp_path):
    """`vmae bench` measures the config a run with the same settings has: the stage that trains
    the objective, its presets, and any train setting given by name (masks, data, objectives')."""
    from trainer.bench.setup import BenchOptions
    from trainer.errors import USER_ERRORS

    cfg = BenchOptions(model="vit_test", settings={"encoder_mask": 0.5, "decoder_mask": 0.25, "frames": 4}
                       ).stage_config()
    assert (cfg.encoder_mask, cfg.mae.decoder_mask, cfg.data.frames, cfg.data.stride) == (0.5, 0.25, 4, 4)
    umt = BenchOptions(model="vit_test", objective="umt", settings={"align_layers": 2}).stage_config()
    assert (umt.data.frames, umt.mask_type, umt.umt.align_layers, umt.umt.teacher_weights) == \
        (8, "semantic", 2, "random")  # UMT's presets, under what was given
    (tmp_path / "b.yaml").write_text("data: {img_size: 64}\nsmoothing: 0.2\n")
    sup = BenchOptions(model="vit_test", objective="supervised", config=str(tmp_path / "b.yaml")).stage_config()
    assert (sup.data.img_size, sup.supervised.smoothing) == (64, 0.2)
    try:
        BenchOptions(model="vit_test", objective="supervised", settings={"mask_type": "tube"}).stage_config()
    except USER_ERRORS as e:
        assert "'mask_type' is not a setting of FinetuneConfig" in str(e)
    else:
        raise AssertionError("a setting the stage does not have must be refused")
    result = CliRunner().invoke(app, [*ARGS, "--objective", "supervised", "--mask-type", "tube"])
    assert result.exit_code == 2 and "'mask_type' is not a setting of FinetuneConfig" in result.output


def test_plan_for_sizes_a_gpus_feed_by_hand_count():
    """MAE ViT-B's 155 GFLOP per clip at 45% of an H100's 989 TFLOP/s is 2,871 clips/s; at 25
    clips/s per core that is 115 cores (the issue's own figures)."""
    import pytest

    from trainer.measure.plan import FeedPlan, gpu_peak

    plan = FeedPlan("H100", 989.0, 0.45, 155.0, 25.0)
    assert math.isclose(plan.consumed_clips_s, 0.45 * 989e12 / 155e9) and plan.cores == 115
    assert FeedPlan("x", 989.0, 0.45, 155.0, 240.0).cores == 12  # the goal: 240 clips/s per core
    assert gpu_peak("h100", "bf16") == ("H100, bf16 datasheet", 989.0)
    assert gpu_peak("H200", "fp32")[1] == 67.0 and gpu_peak("400", "bf16") == ("400 TFLOP/s (given)", 400.0)
    for bad, why in (("v100", "no bf16 figure"), ("tpu", "not a GPU vmae knows"), ("-3", "above 0")):
        with pytest.raises(ValueError, match=why):
            gpu_peak(bad, "bf16")


def test_plan_for_in_the_json_and_the_table(tiny_unlabeled):
    result = CliRunner().invoke(app, [*ARGS, "--shards", str(tiny_unlabeled), "--max-workers", "1", "--decoder",
                                      "torchcodec", "--rounds", "1", "--plan-for", "h100", "--mfu", "0.5", "--json"])
    assert result.exit_code == 0, result.output
    m = json.loads(result.stdout)
    plan = m["plan"]
    assert plan["gpu"] == "H100, fp32 datasheet" and plan["mfu"] == 0.5 and plan["clips_per_core"] == m["loader"]["1"]
    assert plan["cores"] == math.ceil(0.5 * 67e12 / (m["gflops_per_clip"] * 1e9) / m["loader"]["1"])
    assert "views resized on the device" in m["feed"]  # measured as the GPU planned for would run it
    refused = CliRunner().invoke(app, [*ARGS, "--plan-for", "tpu"])
    assert refused.exit_code == 2 and "not a GPU vmae knows" in refused.output
