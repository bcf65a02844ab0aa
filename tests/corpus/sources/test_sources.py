import json

import pandas as pd
import pytest

from corpus.errors import InputError
from corpus.options import BuildOptions
from corpus.sources import get_source
from corpus.sources.kinetics import mirror_name


def plan(source, *inputs, **opts):
    return get_source(source)(BuildOptions(source=source, inputs=tuple(map(str, inputs)), out="-", **opts)).plan()


def by_status(rows):
    return {s: [r for r in rows if r["status"] == s] for s in ("pending", "failed", "skipped")}


def test_webvid_columns_work_as_they_are(tmp_path):
    f = tmp_path / "webvid.csv"
    f.write_text("videoid,contentUrl,duration,page_dir,name\n"
                 "1001,http://127.0.0.1:1/a.mp4,PT00H00M10S,dir1,\"a man, running\"\n"
                 "1002,https://127.0.0.1:1/b.mp4,PT00H00M12S,dir2,a cat\n")
    rows = plan("web", f).rows
    assert [r["video_id"] for r in rows] == ["1001", "1002"]
    assert rows[0]["caption"] == "a man, running"
    assert json.loads(rows[0]["meta"])["page_dir"] == "dir1"  # other columns carried
    assert all(r["status"] == "pending" for r in rows)


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet"])
def test_every_list_format_reads_the_same(tmp_path, fmt):
    df = pd.DataFrame({"url": ["http://127.0.0.1:1/a.mp4", "http://127.0.0.1:1/b.mp4"],
                       "caption": ["one", "two"]})
    f = tmp_path / f"list.{fmt}"
    if fmt == "csv":
        df.to_csv(f, index=False)
    elif fmt == "tsv":
        df.to_csv(f, index=False, sep="\t")
    elif fmt == "jsonl":
        df.to_json(f, orient="records", lines=True)
    else:
        df.to_parquet(f)
    rows = plan("web", f).rows
    assert [r["caption"] for r in rows] == ["one", "two"]
    assert rows[0]["video_id"] != rows[1]["video_id"]  # ids derived from URLs


def test_missing_url_column_is_a_clear_error_before_any_work(tmp_path):
    f = tmp_path / "list.csv"
    f.write_text("link,caption\nhttp://x/a.mp4,a\n")
    with pytest.raises(InputError, match=r"no URL column; expected a column named url or contentUrl or video_url"):
        plan("web", f)
    assert plan("web", f, source_options={"url_column": "link"}).rows[0]["url"] == "http://x/a.mp4"
    with pytest.raises(InputError, match="'nope' \\(from --url-column\\)"):
        plan("web", f, source_options={"url_column": "nope"})


def test_bad_rows_become_failed_rows_and_nothing_is_dropped(tmp_path):
    f = tmp_path / "list.csv"
    f.write_bytes(
        b"videoid,contentUrl,name\n"
        b"1,http://127.0.0.1:1/a.mp4,fine\n"
        b"2,ftp://127.0.0.1/b.mp4,wrong scheme\n"
        b"3,http://127.0.0.1:1/c.mp4,caf\xe9 in latin-1\n"
        b"1,http://127.0.0.1:1/a.mp4,same id again\n"
        b"4,http://127.0.0.1:1/d.mp4\n"
        b"5,,no url\n"
    )
    rows = plan("web", f).rows
    assert len(rows) == 6
    kinds = [r["error_kind"] for r in rows]
    assert kinds == [None, "unsupported_scheme", "bad_row", "duplicate", "bad_row", "bad_row"]
    assert rows[3]["status"] == "skipped" and "input row #1" in rows[3]["error"]
    assert "not valid UTF-8" in rows[2]["error"] and ":4:" in rows[2]["error"]
    assert "expected 3 fields, found 2" in rows[4]["error"]
    assert "only" in rows[1]["error"]
    pd.DataFrame(rows)  # everything storable


def test_malformed_jsonl_line_is_a_failed_row(tmp_path):
    f = tmp_path / "list.jsonl"
    f.write_text('{"url": "http://127.0.0.1:1/a.mp4"}\n{not json\n[1, 2]\n')
    rows = plan("web", f).rows
    assert [r["status"] for r in rows] == ["pending", "failed", "failed"]


def test_kinetics_rows_times_and_mirror_paths(tmp_path):
    f = tmp_path / "k.csv"
    f.write_text("label,youtube_id,time_start,time_end,split,is_cc\n"
                 "abseiling,abcdefghijk,17,27,train,0\n"
                 "\"passing American football (in game)\",lmnopqrstuv,5,15,train,1\n"
                 "abseiling,xxxxxxxxxxx,30,20,train,0\n"
                 "abseiling,yyyyyyyyyyy,nan,20,train,0\n"
                 "abseiling,abcdefghijk,17,27,train,0\n")
    rows = plan("kinetics", f, source_options={"mirror": str(tmp_path)}).rows
    assert rows[0]["path"].endswith(mirror_name("abcdefghijk", 17, 27)) and rows[0]["offset_s"] == 17
    assert mirror_name("abcdefghijk", 17, 27) == "abcdefghijk_000017_000027.mp4"
    assert rows[1]["label"] == "passing American football (in game)"
    assert json.loads(rows[1]["meta"])["is_cc"] == "1"
    assert [r["error_kind"] for r in rows[2:]] == ["bad_row", "bad_row", "duplicate"]
    url_rows = plan("kinetics", f).rows
    assert url_rows[0]["url"] == "https://www.youtube.com/watch?v=abcdefghijk"


def test_kinetics_missing_columns_named(tmp_path):
    f = tmp_path / "k.csv"
    f.write_text("label,video,start\nx,y,1\n")
    with pytest.raises(InputError, match=r"missing column\(s\) \['youtube_id', 'time_start', 'time_end'\]"):
        plan("kinetics", f)


def test_real_kinetics_csvs_parse_as_they_are(kinetics_data):
    for name, n_rows, labeled in [("kinetics-400_val.csv", 19906, True), ("kinetics-400_test.csv", 38685, False),
                                  ("kinetics-600_val.csv", 30000, True), ("kinetics-600_test.csv", 72924, False)]:
        rows = plan("kinetics", kinetics_data / name).rows
        assert len(rows) == n_rows, name
        groups = by_status(rows)
        assert len(groups["failed"]) == 0, [r["error"] for r in groups["failed"][:3]]
        assert all((r["label"] is not None) == labeled for r in groups["pending"])
        assert all(r["end_s"] > r["start_s"] for r in groups["pending"])
    k400 = plan("kinetics", kinetics_data / "kinetics-400_val.csv").rows
    assert len({r["label"] for r in k400}) == 400
    assert {r["split"] for r in k400} == {"val"}


def test_movies_plan_one_row_per_file(tmp_path, videos):
    rows = plan("movies", videos / "long.mp4", videos / "a.mp4").rows
    assert [r["video_id"] for r in rows] == ["long", "a"]
    assert all(r["path"] and r["url"] is None for r in rows)
    with pytest.raises(InputError, match="no such file or folder"):
        plan("movies", tmp_path / "nope")
