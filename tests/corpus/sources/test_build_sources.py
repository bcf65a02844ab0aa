"""kinetics, youtube, instagram and movies end to end. yt-dlp's generic extractor fetches
direct video URLs (and RSS feeds as playlists) from the loopback server."""

import shutil
from pathlib import Path

import pandas as pd

from corpus.sources.kinetics import mirror_name
from tests.helpers import build_corpus, check_corpus


def test_kinetics_through_ytdlp_with_url_template(tmp_path, server):
    ann = tmp_path / "k.csv"
    ann.write_text("label,youtube_id,time_start,time_end,split\n"
                   "jumping,a,0.5,2.5,train\n"
                   "running,a,1,3,train\n"      # a second segment of the same video: fetched once
                   "running,b,0,1.5,train\n"
                   "swimming,missing,0,2,train\n"
                   "swimming,c,5,9,train\n")    # past the end of a 3 s video
    build_corpus(tmp_path / "k", "kinetics", [ann], source_options={"url_template": f"{server}/{{youtube_id}}.mp4"})
    videos = pd.read_parquet(tmp_path / "k" / "videos").sort_values("row")
    assert list(videos["status"]) == ["ok", "ok", "ok", "failed", "failed"]
    assert list(videos["error_kind"].fillna(""))[3:] == ["not_found", "too_short"]
    assert (videos["attempts"].iloc[:2] == 1).all()
    clips = check_corpus(tmp_path / "k").sort_values("row")
    assert list(zip(clips.start_s, clips.end_s, strict=True)) == [(0.5, 2.5), (1.0, 3.0), (0.0, 1.5)]
    assert list(clips["label"]) == ["jumping", "running", "running"]
    labels = (tmp_path / "k" / "labels.txt").read_text().split()
    assert list(clips["label_id"]) == [labels.index(x) for x in clips["label"]]


def test_kinetics_from_a_mirror_folder(tmp_path, videos):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copy(videos / "long.mp4", mirror / mirror_name("vid_000001", 100, 110))
    ann = tmp_path / "k.csv"
    ann.write_text("label,youtube_id,time_start,time_end,split\nx,vid_000001,100,110,val\ny,nofile_0001,1,2,val\n")
    build_corpus(tmp_path / "k", "kinetics", [ann], source_options={"mirror": str(mirror)})
    clips = check_corpus(tmp_path / "k")
    assert len(clips) == 1 and (clips.start_s[0], clips.end_s[0]) == (100.0, 110.0)
    assert abs(clips.duration_s[0] - 10) < 0.1
    assert pd.read_parquet(tmp_path / "k" / "videos").set_index("video_id").loc["nofile_0001", "error_kind"] \
        == "not_found"


def test_youtube_urls_ids_and_playlists(tmp_path, server, videos):
    feed = videos / "feed.xml"  # the folder the server serves
    items = "".join(f'<item><title>{n}</title><link>{server}/{n}.mp4</link><guid>{n}-guid</guid>'
                    f'<enclosure url="{server}/{n}.mp4" type="video/mp4" length="1"/></item>' for n in ("a", "b"))
    feed.write_text(f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>{server}</link>'
                    f'<description>d</description>{items}</channel></rss>')
    lst = tmp_path / "urls.txt"
    lst.write_text(f"# one video, one playlist (an RSS feed), one dead link, one bad line\n{server}/c.mp4\n"
                   f"{server}/feed.xml\n{server}/status/404/gone.mp4\nnot a url\n")
    build_corpus(tmp_path / "y", "youtube", [lst])
    videos = pd.read_parquet(tmp_path / "y" / "videos").sort_values("row")
    assert list(videos["video_id"])[:3] == ["c", "a-guid", "b-guid"]  # the playlist expanded flat
    assert list(videos["status"]) == ["ok", "ok", "ok", "failed", "failed"]
    assert list(videos["error_kind"])[3:] == ["not_found", "bad_row"]
    assert len(check_corpus(tmp_path / "y")) == 3


def test_instagram_with_cookies(tmp_path, server):
    cookies = tmp_path / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tsessionid\tabc\n")
    lst = tmp_path / "posts.txt"
    lst.write_text(f"{server}/a.mp4\n{server}/status/403/reel.mp4\n")
    build_corpus(tmp_path / "i", "instagram", [lst], fetch={"cookies": str(cookies)})
    videos = pd.read_parquet(tmp_path / "i" / "videos").sort_values("row")
    assert list(videos["status"]) == ["ok", "failed"]
    assert videos["error_kind"].iloc[1] == "private"
    assert len(check_corpus(tmp_path / "i")) == 1


def test_movies_cut_into_windows(tmp_path, movie_dir):
    build_corpus(tmp_path / "m", "movies", [movie_dir], clip={"clip_seconds": 4})
    clips = check_corpus(tmp_path / "m").sort_values("start_s")
    assert list(zip(clips.start_s, clips.end_s, strict=True)) == [(0, 4), (4, 8), (8, 12)]
    # AVA-style windows of frames, overlapping by a stride
    build_corpus(tmp_path / "m2", "movies", [movie_dir], clip={"window_frames": 125, "stride_s": 3})
    clips = check_corpus(tmp_path / "m2").sort_values("start_s")
    assert list(clips.start_s) == [0, 3, 6] and (clips.frames == 125).all()


def test_movies_default_to_ten_second_windows(tmp_path, movie_dir):
    build_corpus(tmp_path / "m", "movies", [movie_dir])
    clips = pd.read_parquet(tmp_path / "m" / "clips")
    assert list(zip(clips.start_s, clips.end_s, strict=True)) == [(0, 10)]  # the 2 s tail is dropped


def test_kinetics_fetches_only_the_annotated_range_when_asked(tmp_path, server, videos):
    import ffmpeg
    # Range-less servers need the index up front to seek (as real video sites provide).
    ffmpeg.input(str(videos / "long.mp4")).output(str(videos / "fast.mp4"), c="copy", movflags="+faststart") \
        .overwrite_output().run(quiet=True)
    ann = tmp_path / "k.csv"
    ann.write_text("label,youtube_id,time_start,time_end,split\nx,fast,4,7,train\n")
    build_corpus(tmp_path / "k", "kinetics", [ann], source_options={"url_template": f"{server}/{{youtube_id}}.mp4"},
                 fetch={"download_sections": True})
    video = pd.read_parquet(tmp_path / "k" / "videos").iloc[0]
    assert video.status == "ok" and video.offset_s == 4
    assert video.duration_s < 5  # only the section was fetched, not the 12 s video
    clip = check_corpus(tmp_path / "k").iloc[0]
    assert (clip.start_s, clip.end_s) == (4, 7) and abs(clip.duration_s - 3) < 0.15


def test_ytdlp_errors_are_classified(server):
    import pytest

    from corpus.errors import StepError
    from corpus.fetchers.ytdlp import YtdlpOptions, classify, download
    from corpus.options import DownloadOptions
    for code, kind in [(404, "not_found"), (429, "rate_limited"), (503, "http_5xx"), (403, "private")]:
        with pytest.raises(StepError) as err:
            download(f"{server}/status/{code}/v.mp4", Path("/tmp"), "x", YtdlpOptions(), DownloadOptions(timeout_s=3))
        assert err.value.kind == kind, (code, err.value.message)
    assert classify("Sign in to confirm you’re not a bot") == "rate_limited"
    assert classify("ERROR: [youtube] xyz: Private video. Sign in if you've been granted access") == "private"
    assert classify("ERROR: [youtube] xyz: Video unavailable") == "not_found"


def test_ssv2_folder_with_labels_json(tmp_path):
    import json

    from corpus.synthetic import make_video
    root = tmp_path / "ssv2"
    for vid, pattern in (("101", "testsrc2"), ("102", "scroll"), ("103", "life")):
        make_video(root / "20bn-something-something-v2" / f"{vid}.webm", pattern=pattern, seconds=2,
                   width=160, height=120, fps=12)
    (root / "labels.json").write_text(json.dumps({"Pushing something from left to right": "0",
                                                  "Putting something on something": "1"}))
    (root / "train.json").write_text(json.dumps([
        {"id": "101", "label": "pushing a cup from left to right",
         "template": "Pushing [something] from left to right", "placeholders": ["a cup"]},
        {"id": "104", "label": "putting a pen on a book", "template": "Putting [something] on [something]",
         "placeholders": ["a pen", "a book"]},
        {"id": "105", "label": "x", "template": "Spinning [something]", "placeholders": ["x"]}]))
    (root / "validation.json").write_text(json.dumps([
        {"id": "102", "label": "putting a pen on a book", "template": "Putting [something] on [something]",
         "placeholders": ["a pen", "a book"]}]))
    (root / "test.json").write_text(json.dumps([{"id": "103"}]))
    build_corpus(tmp_path / "s", "ssv2", [root])
    videos = pd.read_parquet(tmp_path / "s" / "videos").set_index("video_id")
    assert videos.loc["104", "error_kind"] == "not_found" and videos.loc["105", "error_kind"] == "unknown_label"
    clips = check_corpus(tmp_path / "s").set_index("video_id")
    assert clips.loc["101", "label_id"] == 0 and clips.loc["102", "label_id"] == 1
    assert clips.loc["101", "caption"] == "pushing a cup from left to right"
    assert clips.loc["102", "split"] == "val" and pd.isna(clips.loc["103", "label_id"])
    assert (tmp_path / "s" / "labels.txt").read_text().splitlines()[1] == "Putting something on something"
