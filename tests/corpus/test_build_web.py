"""The web source end to end: a URL list served by a real HTTP server, including 404, 500,
stalled, truncated and corrupt responses. Every row is accounted for."""

import csv
import json

import pandas as pd

from manifests.validate import validate
from tests.helpers import build_corpus, check_corpus


def write_list(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["videoid", "contentUrl", "name"])
        w.writerows(rows)
    return path


def test_web_build_accounts_for_every_row(tmp_path, server):
    lst = write_list(tmp_path / "list.csv", [
        ["a", f"{server}/a.mp4", "test source"],
        ["b", f"{server}/b.mp4", "portrait scroll"],
        ["c", f"{server}/c.mp4", "with audio"],
        ["gone", f"{server}/status/404/x.mp4", "404"],
        ["broken", f"{server}/status/500/x.mp4", "500"],
        ["stall", f"{server}/slow/a.mp4", "stalls"],
        ["cut", f"{server}/cut/a.mp4", "truncated response"],
        ["trunc", f"{server}/truncated.mp4", "truncated file"],
        ["junk", f"{server}/garbage.mp4", "not a video"],
        ["empty", f"{server}/empty.mp4", "zero bytes"],
        ["ftp", "ftp://127.0.0.1/a.mp4", "bad scheme"],
    ])
    summary = build_corpus(tmp_path / "c", "web", [lst], unit_size=3, fetch={"timeout_s": 1.5})
    videos = pd.read_parquet(tmp_path / "c" / "videos").set_index("video_id")
    assert len(videos) == 11 and summary["rows"] == 11
    assert videos.loc[["a", "b", "c"], "error_kind"].isna().all()
    kinds = videos["error_kind"].to_dict()
    assert kinds["gone"] == "not_found" and kinds["broken"] == "http_5xx" and kinds["stall"] == "timeout"
    assert kinds["cut"] == "truncated" and kinds["ftp"] == "unsupported_scheme"
    assert kinds["trunc"] == kinds["empty"] == "corrupt" and kinds["junk"] == "not_video"
    assert videos.loc["gone", "error"].startswith("HTTP 404")
    assert (videos.loc[["a", "b", "c"], "status"] == "ok").all()
    assert videos.loc["a", "sha256"] and videos.loc["a", "bytes"] > 0 and videos.loc["a", "codec"] == "h264"

    clips = check_corpus(tmp_path / "c")
    assert sorted(clips["video_id"]) == ["a", "b", "c"]
    b = clips.set_index("video_id").loc["b"]
    assert (b.width, b.height) == (96, 170)  # portrait: the short side is the width
    assert clips.set_index("video_id").loc["a", "caption"] == "test source"
    assert all(len(s) == 8 for s in clips["signature"])
    assert summary["status"] == {"failed": 8, "ok": 3}


def test_options_fps_short_side_never_upscale_and_audio(tmp_path, server):
    lst = write_list(tmp_path / "list.csv", [["c", f"{server}/c.mp4", "x"]])
    build_corpus(tmp_path / "c", "web", [lst], clip={"short_side": 1000, "fps": 10, "keep_audio": True})
    clip = pd.read_parquet(tmp_path / "c" / "clips").iloc[0]
    assert (clip.width, clip.height) == (256, 144)  # never upscaled
    assert clip.fps == 10 and clip.frames == 30
    import tarfile

    import ffmpeg
    with tarfile.open(tmp_path / "c" / clip.shard) as tar:
        (tmp_path / "x.mp4").write_bytes(tar.extractfile(f"{clip.clip_key}.mp4").read())
        meta = json.loads(tar.extractfile(f"{clip.clip_key}.json").read())
    streams = {s["codec_type"]: s for s in ffmpeg.probe(str(tmp_path / "x.mp4"))["streams"]}
    assert streams["video"]["pix_fmt"] == "yuv420p" and "audio" in streams
    assert meta["clip_key"] == clip.clip_key and meta["video_id"] == "c" and "signature" not in meta


def test_shards_roll_over_by_bytes(tmp_path, server):
    lst = write_list(tmp_path / "list.csv", [[n, f"{server}/{n}.mp4", n] for n in ("a", "b", "c")])
    build_corpus(tmp_path / "c", "web", [lst], shard_bytes=1, unit_size=100)
    shards = pd.read_parquet(tmp_path / "c" / "shards")
    assert len(shards) == 3 and (shards["clips"] == 1).all()
    assert validate(tmp_path / "c").ok


def test_plan_only_writes_every_row_pending(tmp_path, server):
    lst = write_list(tmp_path / "list.csv", [["a", f"{server}/a.mp4", "x"], ["f", "file:///etc/passwd", "x"]])
    from corpus.build import build
    from corpus.options import BuildOptions
    summary = build(BuildOptions(source="web", inputs=(str(lst),), out=str(tmp_path / "c")), plan_only=True,
                    progress=False)
    assert summary["status"] == {"failed": 1, "pending": 1} and summary["clips"] == 0
    assert not (tmp_path / "c" / "tars").exists()
    assert validate(tmp_path / "c").ok
    # the same command without --plan-only goes on from the plan
    build_corpus(tmp_path / "c", "web", [lst], workers=1, shard_bytes=1024**3)
