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
