"""Ids from an input file that name a file of a local folder (a Kinetics --mirror, an SSv2
folder) never reach a file outside it: '../x' ids are failed rows, and the file they point at
is not read."""

import json
import shutil

import pandas as pd

from corpus.sources.kinetics import mirror_name
from tests.helpers import build_corpus


def test_a_kinetics_id_with_dot_dot_does_not_leave_the_mirror(tmp_path, videos):
    mirror, private = tmp_path / "mirror", tmp_path / "private"
    mirror.mkdir()
    private.mkdir()
    shutil.copy(videos / "a.mp4", mirror / mirror_name("good_id", 0, 2))
    shutil.copy(videos / "c.mp4", private / mirror_name("secret", 0, 2))  # what the crafted id points at
    ann = tmp_path / "k.csv"
    ann.write_text("label,youtube_id,time_start,time_end,split\n"
                   "a,good_id,0,2,train\n"
                   "b,../private/secret,0,2,train\n")
    build_corpus(tmp_path / "k", "kinetics", [ann], source_options={"mirror": str(mirror)})
    videos_table = pd.read_parquet(tmp_path / "k" / "videos").set_index("video_id")
    bad = videos_table.loc["../private/secret"]
    assert bad.status == "failed" and bad.error_kind == "bad_row" and "not a plain name" in bad.error
    clips = pd.read_parquet(tmp_path / "k" / "clips")
    assert list(clips.video_id) == ["good_id"]


def test_an_ssv2_id_with_dot_dot_does_not_leave_the_folder(tmp_path, videos):
    root, outside = tmp_path / "ssv2", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    shutil.copy(videos / "a.mp4", root / "1.webm")
    shutil.copy(videos / "c.mp4", outside / "2.webm")
    (root / "labels.json").write_text(json.dumps({"Pushing something": "0"}))
    (root / "train.json").write_text(json.dumps([
        {"id": "1", "template": "Pushing [something]", "label": "pushing a cup"},
        {"id": "../outside/2", "template": "Pushing [something]", "label": "pushing a secret"}]))
    build_corpus(tmp_path / "s", "ssv2", [root])
    rows = pd.read_parquet(tmp_path / "s" / "videos").set_index("video_id")
    assert rows.loc["../outside/2", "error_kind"] == "bad_row"
    assert list(pd.read_parquet(tmp_path / "s" / "clips").video_id) == ["1"]
