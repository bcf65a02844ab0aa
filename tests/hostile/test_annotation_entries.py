"""One bad entry of an annotation file is one bad_row, never an exception that stops the plan:
retrieval entries whose "video" is '/', '.', 'a/..' or holds a NUL, and image-list entries whose
"image" holds a NUL, each fail alone while the good entries beside them are planned."""

import json

import pandas as pd

from tests.helpers import build_corpus


def test_bad_retrieval_entries_fail_alone(tmp_path, videos):
    folder = tmp_path / "msrvtt"
    folder.mkdir()
    (folder / "video1.mp4").write_bytes((videos / "a.mp4").read_bytes())
    entries = [{"video": v, "caption": "a caption"} for v in ("/", ".", "clips/..", "bad\0name.mp4", "video1.mp4")]
    (folder / "msrvtt_test1k.json").write_text(json.dumps(entries))
    build_corpus(tmp_path / "c", "retrieval", [folder / "msrvtt_test1k.json"], plan_only=True)
    rows = pd.read_parquet(tmp_path / "c" / "videos").sort_values("row")
    assert list(rows["error_kind"].fillna("ok")) == ["bad_row"] * 4 + ["ok"]
    assert list(rows["video_id"]) == ["entry0", "entry1", "entry2", "entry3", "video1"]
    assert "names no file" in rows["error"].iloc[0] and "NUL" in rows["error"].iloc[3]


def test_an_image_entry_with_a_nul_fails_alone(tmp_path):
    folder = tmp_path / "coco"
    folder.mkdir()
    entries = [{"image": name, "caption": "a caption"} for name in ("a\0b.jpg", "ok.jpg", ".")]
    (folder / "coco_karpathy_train.json").write_text(json.dumps(entries))
    build_corpus(tmp_path / "c", "images", [folder / "coco_karpathy_train.json"], plan_only=True)
    rows = pd.read_parquet(tmp_path / "c" / "videos").sort_values("row")
    assert list(rows["error_kind"].fillna("ok")) == ["bad_row", "ok", "bad_row"]
    assert "NUL" in rows["error"].iloc[0] and "names no file" in rows["error"].iloc[2]
