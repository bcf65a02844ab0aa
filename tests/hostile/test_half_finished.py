"""Corpora in a half-finished state are not read as if they were whole: mix and dedup refuse a
corpus that another process is writing, refuse one whose build stopped half-way (or, with
--allow-unfinished, warn loudly and go on), and mix refuses dedup verdicts that cover only part
of a corpus' clips (a dedup that ran before the build finished)."""

import fcntl
import json
import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from manifests.tables import write_part

runner = CliRunner()


@pytest.fixture()
def corpus(tmp_path, motion_corpora):
    copy = tmp_path / "c"
    shutil.copytree(motion_corpora["six"], copy, symlinks=True)
    (tmp_path / "r.yaml").write_text("sources:\n  m: {quota: 4}\n")
    return copy


def mix(corpus, out, *extra):
    return runner.invoke(app, ["corpus", "mix", "--recipe", str(corpus.parent / "r.yaml"), "--input", f"m={corpus}",
                               "--out", str(out), "--workers", "1", "--no-progress", *extra])


def dedup(corpus, *extra):
    return runner.invoke(app, ["corpus", "dedup", str(corpus), "--workers", "1", "--no-progress", *extra])


def test_a_corpus_being_written_is_not_read(corpus, tmp_path):
    with open(corpus / ".lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("vmae pid 4242 on builder")
        held.flush()
        for r in (mix(corpus, tmp_path / "m"), dedup(corpus)):
            assert r.exit_code == 2 and "vmae pid 4242 on builder" in r.output, r.output
    assert not (tmp_path / "m").exists() and not (corpus / "dedup").exists()
    assert mix(corpus, tmp_path / "m").exit_code == 0  # once the writer is gone


def test_a_corpus_whose_build_stopped_half_way_is_refused_unless_allowed(corpus, tmp_path, caplog):
    doc = json.loads((corpus / "build.json").read_text())
    (corpus / "build.json").write_text(json.dumps(doc | {"state": "building"}))  # as a stopped build leaves it
    for r in (mix(corpus, tmp_path / "m"), dedup(corpus)):
        assert r.exit_code == 2 and "its build did not finish (state 'building')" in r.output, r.output
        assert "--allow-unfinished" in r.output
    assert not (tmp_path / "m").exists()
    r = mix(corpus, tmp_path / "m", "--allow-unfinished")
    assert r.exit_code == 0, r.output
    assert "USING AN UNFINISHED CORPUS" in caplog.text


def test_dedup_verdicts_older_than_the_clips_are_refused_by_mix(corpus, tmp_path):
    clips = pd.read_parquet(corpus / "clips")
    verdicts = [{"clip_key": k, "video_id": v, "keep": True} for k, v in zip(clips.clip_key[:2], clips.video_id[:2],
                                                                          strict=True)]
    write_part(corpus / "dedup" / "part-all.parquet", "dedup", verdicts)  # what a dedup of the half-built corpus wrote
    r = mix(corpus, tmp_path / "m")
    assert r.exit_code == 2 and f"dedup judged 2 of its {len(clips)} clips" in r.output, r.output
    assert dedup(corpus).exit_code == 0 and mix(corpus, tmp_path / "m").exit_code == 0
