"""A server that misbehaves slowly costs a bounded time: one that sends a byte every 0.1 s (so a
per-read timeout never fires) is cut off by the download's rate floor, and a garbled
Content-Length is ignored rather than failing the row as an internal error."""

import csv
import time

import pandas as pd
import pytest

from tests.helpers import build_corpus


@pytest.mark.timeout(60)
def test_a_trickling_server_is_cut_off_by_the_rate_floor(tmp_path, server):
    with open(tmp_path / "list.csv", "w", newline="") as f:
        csv.writer(f).writerows([["videoid", "url"], ["trickle", f"{server}/trickle/a.mp4"],
                                 ["garbled", f"{server}/badlength/a.mp4"]])
    start = time.monotonic()
    build_corpus(tmp_path / "c", "web", [tmp_path / "list.csv"], fetch={"timeout_s": 1, "min_rate": 5000})
    took = time.monotonic() - start
    rows = pd.read_parquet(tmp_path / "c" / "videos").set_index("video_id")
    assert rows.loc["trickle", "error_kind"] == "timeout" and "below the floor" in rows.loc["trickle", "error"]
    assert took < 20, f"the trickle held the build for {took:.0f} s"
    assert rows.loc["garbled", "status"] == "ok"


@pytest.mark.timeout(120)
def test_training_on_shards_none_of_which_can_be_read_stops_with_a_message(tmp_path, tiny_unlabeled):
    import shutil
    import subprocess
    import sys

    corpus = tmp_path / "c"
    shutil.copytree(tiny_unlabeled, corpus, symlinks=True)
    for tar in (corpus / "tars").glob("*.tar"):
        tar.write_bytes(b"this is not a tar file\n" * 40)
    done = subprocess.run([sys.executable, "-m", "cli.main", "train", "pretrain", "--shards", str(corpus), "--out",
                           str(tmp_path / "run"), "--model", "vit_test", "--frames", "4", "--img-size", "32",
                           "--steps", "2", "--workers", "0", "--no-progress"], capture_output=True, text=True,
                          timeout=100)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "none of the 3 shards this loader worker reads gave a sample" in done.stderr
    assert len(done.stderr.splitlines()) < 60, f"{len(done.stderr.splitlines())} lines of log"


@pytest.mark.timeout(60)
def test_a_trickling_server_behind_yt_dlp_is_cut_off_too(tmp_path, server):
    (tmp_path / "urls.txt").write_text(f"{server}/trickle/a.mp4\n{server}/b.mp4\n")
    start = time.monotonic()
    build_corpus(tmp_path / "y", "youtube", [tmp_path / "urls.txt"], fetch={"timeout_s": 1, "min_rate": 5000})
    took = time.monotonic() - start
    rows = pd.read_parquet(tmp_path / "y" / "videos").sort_values("row")
    assert list(rows.status) == ["failed", "ok"] and list(rows.error_kind)[0] == "timeout"
    assert took < 30, f"the trickle held the build for {took:.0f} s"
