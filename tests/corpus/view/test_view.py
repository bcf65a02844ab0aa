"""`vmae corpus view` over a real built and deduplicated corpus, through real HTTP: pages list
and filter what the tables hold, media comes byte for byte from the tar members, and nothing
outside the corpus folder is ever served. tests/corpus/test_view_browser.py drives Chromium."""

from __future__ import annotations

import os
import re
import shutil
import urllib.parse

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpus.mix.run import MixOptions, mix
from corpus.report import report
from manifests.schemas import CLIPS, with_version
from manifests.tars import members
from tests.helpers import get, viewing


@pytest.fixture(scope="module")
def viewed(viewed_corpus, tmp_path_factory):
    """The viewer over viewed_corpus (tests/conftest.py), on a free port."""
    with viewing([viewed_corpus], tmp_path_factory.mktemp("cache")) as address:
        yield viewed_corpus, address


def keys_on(page: bytes) -> list[str]:
    return re.findall(r"data-key='([^']+)'", page.decode())


def test_pages_list_filter_and_page_the_tables(viewed):
    root, address = viewed
    clips = pd.read_parquet(root / "clips")
    status, _, page = get(address, "/c/0/clips")
    assert status == 200 and sorted(keys_on(page)) == sorted(clips["clip_key"])
    by_motion = get(address, "/c/0/clips?min_motion=0&sort=motion&desc=1&per_page=24&page=1")[2]
    motions = clips.set_index("clip_key").loc[keys_on(by_motion), "motion"].tolist()
    assert len(motions) == len(clips) and motions == sorted(motions, reverse=True)  # sorted on the server
    still = get(address, f"/c/0/clips?max_motion={sorted(motions)[1]}")[2]
    assert len(keys_on(still)) == 2  # a range filter narrows to the clips within it
    dropped = get(address, "/c/0/clips?reason=near")[2]
    copies = clips.loc[clips.video_id == "a_copy", "clip_key"]
    assert sorted(keys_on(dropped)) == sorted(copies) and len(copies) == 2
    # a page of one: the pager says how many match and links on
    first = get(address, "/c/0/clips?per_page=24&page=1")[2]
    assert f">{len(clips)}</span> found".encode() in first
    (failed,) = pd.read_parquet(root / "videos").query("status == 'failed'").itertuples()
    rows = get(address, "/c/0/rows?status=failed")[2].decode()
    assert failed.video_id == "broken" and f"class=kind>{failed.error_kind}<" in rows and ">a<" not in rows
    assert f"<td>{failed.error[:30]}" in rows


def test_dedup_page_shows_each_drop_beside_the_kept_copy(viewed):
    root, address = viewed
    d = pd.read_parquet(root / "dedup")
    dropped = d[~d.keep]
    assert len(dropped) == 2
    page = get(address, "/c/0/dedup")[2].decode()
    pairs = page.split("<div class='pair'")[1:]
    assert len(pairs) == 2
    for pair, (_, drop) in zip(pairs, dropped.sort_values("clip_key").iterrows(), strict=True):
        left, right = re.findall(r"data-key='([^']+)'", pair)  # the dropped clip, then the kept one
        assert (left, right) == (drop.clip_key, drop.duplicate_of) and f"distance {int(drop.distance)} bits" in pair


def test_media_is_the_tar_member_byte_for_byte_with_ranges(viewed):
    root, address = viewed
    clip = pd.read_parquet(root / "clips").iloc[0]
    with open(root / clip["shard"], "rb") as f:
        member = next(m for m, _ in members(f, "t", 2**40, read=False) if m.name == f"{clip['clip_key']}.mp4")
        f.seek(member.offset)
        data = f.read(member.size)
    path = f"/c/0/media/{urllib.parse.quote(clip['clip_key'])}"
    status, headers, body = get(address, path)
    assert status == 200 and body == data and headers["Content-Type"] == "video/mp4"
    status, headers, body = get(address, path, {"Range": "bytes=100-1099"})
    assert status == 206 and body == data[100:1100] and headers["Content-Range"] == f"bytes 100-1099/{len(data)}"
    assert get(address, path, {"Range": "bytes=-10"})[2] == data[-10:]
    assert get(address, path, {"Range": f"bytes={len(data) - 5}-"})[2] == data[-5:]
    assert get(address, path, {"Range": f"bytes={len(data)}-"})[0] == 416
    status, headers, sheet = get(address, f"/c/0/sheet/{urllib.parse.quote(clip['clip_key'])}")
    assert status == 200 and sheet[:2] == b"\xff\xd8" and headers["Content-Type"] == "image/jpeg"


def test_nothing_outside_the_corpus_is_served(viewed, tmp_path):
    root, address = viewed
    clip = pd.read_parquet(root / "clips").iloc[0]["clip_key"]
    for path in ("/../../etc/passwd", "/c/0/media/..%2F..%2F..%2Fetc%2Fpasswd", "/c/0/media/%2Fetc%2Fpasswd",
                 "/c/0/sheet/..", "/c/1/clips", "/c/-1/clips", "/c/0/media/" + clip + "/..", "/c/0/clips/../../x",
                 "/c/0/media/" + urllib.parse.quote(clip + ".json"), "/etc/passwd", "/c/0/../../../etc/passwd"):
        status, _, body = get(address, path)
        assert status == 404 and b"root:" not in body, path


def test_a_crafted_table_cannot_lead_out_of_the_corpus(tmp_path, viewed):
    """clips/ is an input: a shard column pointing out of the folder, or a shard that is a symlink
    to a file outside, gets 404 and not the file."""
    root, _ = viewed
    copy = tmp_path / "copy"
    shutil.copytree(root, copy, symlinks=True)
    secret = tmp_path / "secret.tar"
    shutil.copy(next((copy / "tars").rglob("*.tar")), secret)
    clips_dir = copy / "clips"
    for part in clips_dir.rglob("*.parquet"):
        frame = pd.read_parquet(part)
        frame.loc[0, "shard"] = "../secret.tar"
        frame.loc[1, "shard"] = str(secret)  # absolute
        frame.loc[2, "shard"] = "tars/link.tar"
        pq.write_table(pa.Table.from_pandas(frame, schema=with_version(CLIPS, "clips"), preserve_index=False), part)
    os.symlink(secret, copy / "tars" / "link.tar")
    with viewing([copy], tmp_path / "cache") as address:
        for key in pd.read_parquet(clips_dir)["clip_key"].iloc[:3]:
            assert get(address, f"/c/0/media/{urllib.parse.quote(key)}")[0] == 404, key
            assert get(address, f"/c/0/sheet/{urllib.parse.quote(key)}")[0] == 404, key


def test_a_hybrid_shows_its_recipe_and_where_its_clips_came_from(viewed_corpus, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("sources:\n  films: {quota: 8}\n")
    summary = mix(MixOptions(recipe=str(recipe), inputs={"films": str(viewed_corpus)}, out=str(tmp_path / "hybrid")),
                  progress=False)
    films = summary["mix"]["films"]
    assert films["shortfall"] > 0  # 5 clips survive dedup for a quota of 8
    with viewing([tmp_path / "hybrid", viewed_corpus], tmp_path / "cache") as address:
        page = get(address, "/c/0/mix")[2].decode()
        row = re.search(r"<tr><td>films</td>(.*?)</tr>", page).group(1)
        cells = re.findall(r"<td class=num>([^<]*)</td>", row)
        assert cells == [str(films[k]) for k in ("quota", "available", "dropped_by_dedup", "selected", "shortfall")]
        origin = f"<tr><td>films</td><td>{viewed_corpus}</td><td class=num>{films['selected']}</td></tr>"
        assert origin in page
        assert get(address, "/c/1/mix")[0] == 404  # a built corpus has no recipe
        # a clip of the hybrid plays from the hybrid's own tars
        key = pd.read_parquet(tmp_path / "hybrid" / "clips")["clip_key"].iloc[0]
        assert get(address, f"/c/0/media/{urllib.parse.quote(key)}")[0] == 200


def test_the_report_shows_examples_per_source_and_what_dedup_dropped(viewed_corpus, tmp_path):
    _, page = report([viewed_corpus], tmp_path / "report.png")
    text = page.read_text()
    movies = text.split("<h3>source movies: 7 clips</h3>")[1].split("<h3>")[0]
    assert movies.count("data:image/jpeg;base64,") == 4
    near = text.split("<h3>dropped by dedup as near: 2 clips</h3>")[1].split("<h")[0]
    assert near.count("data:image/jpeg;base64,") == 2 and "copy of movies_a_" in near


def test_rejects_page_shows_what_a_filter_dropped(viewed):
    root, address = viewed
    rejects = pd.read_parquet(root / "rejects")
    assert set(rejects.video_id) == {"still"} and set(rejects.reason) == {"frozen"}
    page = get(address, "/c/0/rejects?reason=frozen")[2].decode()
    assert page.count("<tr>") == len(rejects) + 1
    shown = re.findall(r"/c/0/reject/(\d+)", page)
    assert len(shown) == len(rejects) == 2  # both 1.5 s windows, each with its contact sheet
    for i in shown:
        status, headers, body = get(address, f"/c/0/reject/{i}")
        assert status == 200 and body == rejects.preview.iloc[int(i)] and headers["Content-Type"] == "image/jpeg"
    assert get(address, f"/c/0/reject/{len(rejects)}")[0] == 404
