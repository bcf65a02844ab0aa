"""The public video-text lists: Panda-70M's CSV (spans and captions as lists), InternVid's JSONL
(one clip a line), and the retrieval benchmarks' annotation files over a local videos folder;
every caption kept in the manifest and the .json member, the first one in the .txt member."""

import csv as _csv
import json
import shutil
import tarfile

import pandas as pd
import pytest

from corpus.sources.timestamps import parse_list, parse_timestamp
from tests.helpers import build_corpus, check_corpus


def members(root) -> dict[str, bytes]:
    found = {}
    for tar in sorted((root / "tars").glob("*.tar")):
        with tarfile.open(tar) as t:
            found |= {m.name: t.extractfile(m).read() for m in t.getmembers()}
    return found


def test_panda70m_one_clip_per_span_with_its_caption(tmp_path, server):
    csv = tmp_path / "panda70m_testing.csv"
    rows = [("a", f"{server}/a.mp4", "[['0:00:00.000', '0:00:01.200'], ['0:00:01.500', '0:00:02.900']]",
             repr(["a test card with colour bars", "it's a pattern that moves"]), "[0.41, 0.39]"),
            ("c", f"{server}/c.mp4", "[['0:00:00.000', '0:00:01.000']]", "['one', 'two']", "[0.1]"),
            ("b", f"{server}/b.mp4", "__import__('os').system('true')", "['x']", "[0.1]")]
    with open(csv, "w", newline="") as f:  # quoted as Panda-70M's CSV quotes its list cells
        writer = _csv.writer(f)
        writer.writerow(["videoID", "url", "timestamp", "caption", "matching_score"])
        writer.writerows(rows)
    build_corpus(tmp_path / "p", "panda70m", [csv])
    videos = pd.read_parquet(tmp_path / "p" / "videos").sort_values("row")
    assert list(videos["status"]) == ["ok", "ok", "failed", "failed"]
    assert "2 captions" in videos["error"].iloc[2] and "not a list" in videos["error"].iloc[3]
    clips = check_corpus(tmp_path / "p").sort_values("start_s")
    assert list(zip(clips.start_s, clips.end_s, strict=True)) == [(0.0, 1.2), (1.5, 2.9)]
    assert list(clips["caption"]) == ["a test card with colour bars", "it's a pattern that moves"]
    found = members(tmp_path / "p")
    for key, caption in zip(clips["clip_key"], clips["caption"], strict=True):
        assert found[f"{key}.txt"].decode() == caption
        assert json.loads(found[f"{key}.json"])["captions"] == [caption]
    assert [json.loads(m)["span"] for m in videos["meta"].iloc[:2]] == [0, 1]


def test_internvid_lines_with_clock_timestamps(tmp_path, server):
    lines = [{"YoutubeID": "a", "Start_timestamp": "00:00:00.500", "End_timestamp": "00:00:02.000",
              "Caption": "colour bars on a test card", "UMT_Score": 0.43},
             {"YoutubeID": "a", "Start_timestamp": "00:00:01.000", "End_timestamp": "00:00:02.500",
              "Caption": "the same card, later", "UMT_Score": 0.40},
             {"YoutubeID": "b", "Start_timestamp": "yesterday", "End_timestamp": "00:00:01.000", "Caption": "x"}]
    jsonl = tmp_path / "InternVid-10M-FLT.jsonl"
    jsonl.write_text("".join(json.dumps(x) + "\n" for x in lines))
    build_corpus(tmp_path / "i", "internvid", [jsonl], source_options={"url_template": f"{server}/{{youtube_id}}.mp4"})
    videos = pd.read_parquet(tmp_path / "i" / "videos").sort_values("row")
    assert list(videos["status"]) == ["ok", "ok", "failed"] and videos["error_kind"].iloc[2] == "bad_row"
    assert videos["attempts"].iloc[0] == 1  # both lines of video a cut from one download
    clips = check_corpus(tmp_path / "i").sort_values("start_s")
    assert list(zip(clips.start_s, clips.end_s, clips.caption, strict=True)) == [
        (0.5, 2.0, "colour bars on a test card"), (1.0, 2.5, "the same card, later")]
    assert json.loads(clips["meta"].iloc[0])["UMT_Score"] == 0.43


def _benchmark_folder(tmp_path, videos, name: str, entries: list) -> tuple:
    folder = tmp_path / "bench"
    (folder / "videos").mkdir(parents=True, exist_ok=True)
    for n in ("a", "c"):
        shutil.copy(videos / f"{n}.mp4", folder / "videos" / f"video{n}.mp4")
    (tmp_path / "secret.mp4").write_bytes((videos / "b.mp4").read_bytes())
    ann = folder / name
    ann.write_text(json.dumps(entries))
    return ann, folder / "videos"


def test_msrvtt_annotations_keep_all_twenty_captions(tmp_path, videos):
    captions = {n: [f"video {n} caption {k}" for k in range(20)] for n in ("a", "c")}
    entries = [{"video": f"video{n}.mp4", "caption": captions[n]} for n in ("a", "c")]
    entries += [{"video": "../../secret.mp4", "caption": "outside"}, {"video": "videoa.mp4", "caption": 7}, "x"]
    ann, folder = _benchmark_folder(tmp_path, videos, "msrvtt_test1k.json", entries)
    summary = build_corpus(tmp_path / "m", "retrieval", [ann], source_options={"videos": str(folder)})
    assert summary["report"]["files"][str(ann)] == {"benchmark": "msrvtt", "split": "test", "entries": 5,
                                                     "paragraph": False}
    videos_t = pd.read_parquet(tmp_path / "m" / "videos").sort_values("row")
    assert list(videos_t["status"]) == ["ok", "ok", "failed", "failed", "failed"]
    assert "outside the videos folder" in videos_t["error"].iloc[2]
    clips = check_corpus(tmp_path / "m").set_index("video_id")
    found = members(tmp_path / "m")
    for n in ("a", "c"):
        clip = clips.loc[f"video{n}"]
        assert list(clip["captions"]) == captions[n] and clip["caption"] == captions[n][0]
        assert json.loads(found[f"{clip['clip_key']}.json"])["captions"] == captions[n]
        assert found[f"{clip['clip_key']}.txt"].decode() == captions[n][0]
        assert clip["split"] == "test"


def test_didemo_paragraphs_are_joined(tmp_path, videos):
    entries = [{"video": "videoa.mp4", "caption": ["A card appears.", "Bars scroll by.", "It ends."]}]
    ann, folder = _benchmark_folder(tmp_path, videos, "didemo_ret_test.json", entries)
    build_corpus(tmp_path / "d", "retrieval", [ann], source_options={"videos": str(folder)})
    clips = check_corpus(tmp_path / "d")
    assert list(clips["captions"].iloc[0]) == ["A card appears. Bars scroll by. It ends."]


@pytest.mark.parametrize("text,seconds", [
    ("0:00:05.000", 5.0), ("00:00:13.880", 13.88), ("01:02.5", 62.5), ("1:00:00", 3600.0), ("7.25", 7.25),
    (3, 3.0), ("00:00:13,880", 13.88), ("0:61:00", None), ("-1", None), ("nan", None), ("", None), ("soon", None),
])
def test_timestamps_in_every_form(text, seconds):
    assert parse_timestamp(text) == (pytest.approx(seconds) if seconds is not None else None)


def test_list_cells_parse_as_literals_never_as_code():
    assert parse_list("[['0:00:00.000', '0:00:01.000']]", "t") == [["0:00:00.000", "0:00:01.000"]]
    assert parse_list('["a", "b"]', "c") == ["a", "b"]
    for bad in ("__import__('os').system('true')", "[" * 100_000, "x" * 2_000_000, ""):
        with pytest.raises(ValueError):
            parse_list(bad, "t")
