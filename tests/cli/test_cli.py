"""The command line as a user runs it: build, status, validate, and the errors they see."""

import json
import shutil

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, server):
    d = tmp_path_factory.mktemp("cli")
    (d / "list.csv").write_text(f"url,caption\n{server}/a.mp4,one\n{server}/b.mp4,two\n{server}/status/404/x.mp4,x\n")
    r = runner.invoke(app, ["corpus", "build", "--source", "web", "--input", str(d / "list.csv"), "--out",
                            str(d / "c"), "--workers", "2", "--short-side", "96", "--preset", "ultrafast",
                            "--retries", "0", "--unit-size", "1", "--shard-bytes", "1MB", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "ok=2" in r.output and "not_found=1" in r.output
    return d / "c"


def test_status_counts(corpus):
    r = runner.invoke(app, ["corpus", "status", str(corpus), "--json"])
    s = json.loads(r.output)
    assert s["status"] == {"failed": 1, "ok": 2} and s["clips"] == 2 and s["shards"] == 2
    assert s["error_kinds"] == {"not_found": 1} and s["hours"] > 0


def test_validate_passes_then_catches_tampering(corpus, tmp_path):
    assert runner.invoke(app, ["manifests", "validate", str(corpus)]).exit_code == 0
    bad = tmp_path / "bad"
    shutil.copytree(corpus, bad)
    tar = sorted((bad / "tars").glob("*.tar"))[0]
    data = bytearray(tar.read_bytes())
    data[1000] ^= 0xFF
    tar.write_bytes(bytes(data))
    (bad / "tars" / "stray.tar").write_bytes(b"")
    videos = pd.read_parquet(bad / "videos")
    r = runner.invoke(app, ["manifests", "validate", str(bad)])
    assert r.exit_code == 1
    assert "bytes or sha256 differ" in r.output and "not listed in shards/" in r.output
    assert len(videos) == 3


def test_validate_catches_a_lost_input_row(corpus, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(corpus, bad)
    (part,) = sorted((bad / "videos").glob("part-*.parquet"))  # a finished build's videos/ is one file
    table = pq.read_table(part)
    pq.write_table(table.slice(0, table.num_rows - 1), part)  # the last input row is lost
    r = runner.invoke(app, ["manifests", "validate", str(bad)])
    assert r.exit_code == 1 and "input rows missing from videos/" in r.output


def test_missing_columns_fail_before_any_work(tmp_path):
    (tmp_path / "list.csv").write_text("link,text\nhttp://127.0.0.1:9/a.mp4,x\n")
    r = runner.invoke(app, ["corpus", "build", "--source", "web", "--input", str(tmp_path / "list.csv"),
                            "--out", str(tmp_path / "c"), "--no-progress"])
    assert r.exit_code == 2
    assert "no URL column; expected a column named url or contentUrl or video_url" in r.output
    assert not (tmp_path / "c").exists()


def test_unknown_source_and_not_a_corpus(tmp_path):
    r = runner.invoke(app, ["corpus", "build", "--source", "vimeo", "--input", "x", "--out", str(tmp_path / "c")])
    assert r.exit_code == 2 and "unknown source 'vimeo'" in r.output
    r = runner.invoke(app, ["corpus", "status", str(tmp_path)])
    assert r.exit_code == 2 and "not a vmae corpus folder" in r.output


def test_every_command_has_help():
    for cmd in (["corpus", "build"], ["corpus", "status"], ["corpus", "dedup"], ["corpus", "mix"],
                ["corpus", "report"], ["manifests", "validate"], ["demo"], ["train", "pretrain"],
                ["train", "postpretrain"], ["train", "finetune"], ["train", "progressive"], ["eval"], ["predict"],
                ["embed"]):
        r = runner.invoke(app, [*cmd, "--help"])
        assert r.exit_code == 0 and len(r.output) > 100


def test_dedup_mix_report_from_the_command_line(corpus, tmp_path):
    r = runner.invoke(app, ["corpus", "dedup", str(corpus)])
    assert r.exit_code == 0 and "2 items, kept 2" in r.output
    recipe = tmp_path / "r.yaml"
    recipe.write_text("sources:\n  web: {quota: 5}\n")
    r = runner.invoke(app, ["corpus", "mix", "--recipe", str(recipe), "--input", f"web={corpus}", "--out",
                            str(tmp_path / "mix"), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "SHORT by 3" in r.output and "clips       2" in r.output
    before = sorted(pd.read_parquet(tmp_path / "mix" / "clips").clip_key)
    r = runner.invoke(app, ["corpus", "mix", "--recipe", str(recipe), "--input", f"web={corpus}", "--out",
                            str(tmp_path / "mix"), "--no-progress"])  # the same mix again: left as it is
    assert r.exit_code == 0 and sorted(pd.read_parquet(tmp_path / "mix" / "clips").clip_key) == before
    r = runner.invoke(app, ["corpus", "mix", "--recipe", str(recipe), "--input", f"web={corpus}", "--out",
                            str(tmp_path / "mix"), "--scale", "0.2", "--no-progress"])  # 1 clip, not 2
    assert r.exit_code == 2 and "holds another mix" in r.output
    r = runner.invoke(app, ["corpus", "mix", "--recipe", str(recipe), "--input", f"web={corpus}", "--out",
                            str(corpus), "--no-progress"])
    assert r.exit_code == 2 and "is not empty" in r.output
    r = runner.invoke(app, ["corpus", "mix", "--recipe", "unlabeled_hybrid", "--input", f"web={corpus}",
                            "--out", str(tmp_path / "m2")])
    assert r.exit_code == 2 and "needs source(s)" in r.output
    r = runner.invoke(app, ["corpus", "mix", "--recipe", "x", "--input", "nodir", "--out", str(tmp_path / "m3")])
    assert r.exit_code == 2 and "NAME=DIR" in r.output
    r = runner.invoke(app, ["corpus", "report", str(corpus), str(tmp_path / "mix"), "--out", str(tmp_path / "r.png")])
    assert r.exit_code == 0 and (tmp_path / "r.png").stat().st_size > 10_000 and (tmp_path / "r.html").exists()
    r = runner.invoke(app, ["corpus", "dedup", str(tmp_path)])
    assert r.exit_code == 2 and "not a vmae corpus" in r.output


def test_help_build_help_and_status_import_neither_torch_nor_decord(corpus, tmp_path):
    import os
    import subprocess
    import sys

    for name in ("torch", "decord"):  # a module of that name that fails on import shadows the real one
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"raise ImportError('{name} was imported')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    for argv in (["--help"], ["corpus", "build", "--help"], ["corpus", "status", str(corpus)]):
        done = subprocess.run([sys.executable, "-m", "cli.main", *argv], env=env, capture_output=True, text=True)
        assert done.returncode == 0, (argv, done.stderr[-2000:])
    assert "input rows" in done.stdout


def test_each_source_takes_its_own_options_and_names_them_on_a_mistake(tmp_path):
    (tmp_path / "list.csv").write_text("link,text\nhttp://127.0.0.1:9/a.mp4,x\n")
    base = ["corpus", "build", "--source", "web", "--input", str(tmp_path / "list.csv"), "--plan-only",
            "--no-progress"]
    r = runner.invoke(app, [*base, "--out", str(tmp_path / "a"), "--mirror", str(tmp_path)])
    assert r.exit_code == 2 and "the web source has no option 'mirror'; its options: url_column" in r.output
    assert not (tmp_path / "a").exists()
    r = runner.invoke(app, [*base, "--out", str(tmp_path / "b"), "--source-option", "url-column=link"])
    assert r.exit_code == 0 and "pending=1" in r.output


def test_the_cli_defaults_are_the_options_classes():
    """One copy of each default: the build command's help shows the classes' own, and a size
    spelled for the help reads back as the same number of bytes (1 GiB, not 10^9)."""
    from corpus.options import SHARD_BYTES, DownloadOptions
    from corpus.steps.clip import ClipOptions
    from manifests.options import format_size, parse_size

    shown = " ".join(runner.invoke(app, ["corpus", "build", "--help"], env={"COLUMNS": "400"}).output.split())
    assert f"Target tar size, e.g. 1GiB, 200MB. (default: {format_size(SHARD_BYTES)})" in shown
    assert parse_size(format_size(SHARD_BYTES)) == 1024**3
    assert f"(default: {format_size(DownloadOptions().max_bytes)})" in shown and "(default: 20KB)" in shown
    assert f"x264 quality (lower is better). (default: {ClipOptions().crf})" in shown
    for size in (1, 1000, 1024, 20_000, 10**9, 2 * 1024**3, 123_456_789):
        assert parse_size(format_size(size)) == size
