"""A finished build's tables are a few large files; units are split out before they run and
merged after; stale rows of unfinished units are dropped; one writer at a time."""

import fcntl

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from corpus.compact import compact, split_units
from manifests.layout import CorpusLayout
from manifests.tables import part_files, write_part
from manifests.validate import validate
from tests.helpers import build_corpus

runner = CliRunner()


@pytest.fixture()
def url_list(tmp_path, server):
    lst = tmp_path / "list.csv"
    lst.write_text("url\n" + "".join(f"{server}/{n}.mp4?copy={i}\n" for i, n in enumerate(["a", "b", "c"] * 2)))
    return lst


def test_a_finished_build_is_one_file_per_table_and_units_split_and_merge(tmp_path, url_list):
    build_corpus(tmp_path / "c", "web", [url_list], unit_size=1, workers=2)
    layout = CorpusLayout.at(tmp_path / "c")
    assert [len(part_files(layout.table(t))) for t in ("videos", "clips", "shards")] == [1, 1, 1]
    assert validate(layout.root).ok and compact(layout) == {}  # already compact: left as it is
    units = set(pd.read_parquet(layout.table("videos"))["unit"])
    assert len(units) == 6 and split_units(layout, units) and not split_units(layout, units)
    assert sorted(p.stem for p in part_files(layout.table("videos"))) == sorted(f"part-{u}" for u in units)
    assert validate(layout.root).ok  # split or merged, every input row is there once
    r = runner.invoke(app, ["corpus", "compact", str(layout.root)])
    assert r.exit_code == 0 and "videos  6 files -> 1" in r.output
    assert "already compact" in runner.invoke(app, ["corpus", "compact", str(layout.root)]).output


def test_compaction_drops_what_an_unfinished_unit_left_and_keeps_every_input_row(tmp_path, url_list):
    build_corpus(tmp_path / "c", "web", [url_list], unit_size=3, plan_only=True)
    layout = CorpusLayout.at(tmp_path / "c")
    videos = pd.read_parquet(layout.table("videos"))
    assert len(part_files(layout.table("videos"))) == 1 and set(videos["status"]) == {"pending"}
    stray = {"clip_key": "web_x_0_1000", "video_id": "x", "source": "web", "row": 0, "unit": "u000000",
             "shard": "tars/u000000-0000.tar"}  # as a unit killed after writing its clips part leaves it
    write_part(layout.part("clips", "u000000"), "clips", [stray])
    assert compact(layout) == {"clips": (1, 1)} and pd.read_parquet(layout.table("clips")).empty
    assert len(pd.read_parquet(layout.table("videos"))) == len(videos)


def test_a_second_writer_is_refused_while_the_first_holds_the_corpus(tmp_path, url_list):
    build_corpus(tmp_path / "c", "web", [url_list], plan_only=True)
    with open(tmp_path / "c" / ".lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("vmae pid 4242 on elsewhere")
        held.flush()
        r = runner.invoke(app, ["corpus", "build", "--source", "web", "--input", str(url_list), "--out",
                                str(tmp_path / "c"), "--no-progress"])
        assert r.exit_code == 2 and "is in use by vmae pid 4242 on elsewhere" in r.output
        r = runner.invoke(app, ["corpus", "compact", str(tmp_path / "c")])
        assert r.exit_code == 2 and "is in use by" in r.output
