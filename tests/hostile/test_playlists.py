"""A URL that answers with a playlist or a list of files (any name, any Content-Type) is not a
video: ffmpeg would read the files it names, so a stranger's URL list could copy the user's own
videos into a shared corpus. Such rows fail as not_video and the file they name is never read."""

import csv

import ffmpeg
import pandas as pd

from corpus.localserve import serve_folder
from corpus.synthetic import make_video
from tests.helpers import build_corpus


def test_playlists_and_lists_naming_local_files_are_refused(tmp_path, videos):
    private = make_video(tmp_path / "private" / "mine.mp4", pattern="mandelbrot", seconds=3, width=160, height=120,
                         fps=10)
    ts = tmp_path / "private" / "mine.ts"
    ffmpeg.input(str(private)).output(str(ts), c="copy", f="mpegts").run(quiet=True)
    served = tmp_path / "served"
    served.mkdir()
    (served / "video.mp4").write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:3.0,\n{ts}\n#EXT-X-ENDLIST\n")
    (served / "clip.m3u8").write_text(f"#EXTM3U\n#EXTINF:3.0,\nfile://{ts}\n#EXT-X-ENDLIST\n")
    (served / "list.mp4").write_text(f"ffconcat version 1.0\nfile {private}\n")
    (served / "page.mp4").write_text("<!doctype html><html><body>gone</body></html>")
    (served / "real.mp4").write_bytes((videos / "a.mp4").read_bytes())
    with serve_folder(served) as base:
        with open(tmp_path / "list.csv", "w", newline="") as f:
            csv.writer(f).writerows([["videoid", "url"]] + [[n, f"{base}/{n}"] for n in
                                                            ("video.mp4", "clip.m3u8", "list.mp4", "page.mp4",
                                                             "real.mp4")])
        build_corpus(tmp_path / "c", "web", [tmp_path / "list.csv"])
    rows = pd.read_parquet(tmp_path / "c" / "videos").set_index("video_id")
    assert rows.loc["real.mp4", "status"] == "ok"
    kinds = rows["error_kind"].to_dict()
    assert kinds["video.mp4"] == kinds["clip.m3u8"] == kinds["list.mp4"] == kinds["page.mp4"] == "not_video"
    assert "an HLS playlist" in rows.loc["video.mp4", "error"] and "an HTML" in rows.loc["page.mp4", "error"]
    assert list(pd.read_parquet(tmp_path / "c" / "clips").video_id) == ["real.mp4"]


def test_a_playlist_inside_a_shard_is_not_decoded(tmp_path):
    import pytest

    from trainer.data.decode import DecodeError, Video

    private = make_video(tmp_path / "mine.mp4", pattern="mandelbrot", seconds=2, width=96, height=64, fps=10)
    ts = tmp_path / "mine.ts"
    ffmpeg.input(str(private)).output(str(ts), c="copy", f="mpegts").run(quiet=True)
    member = f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n{ts}\n#EXT-X-ENDLIST\n".encode()
    for decoder in ("torchcodec", "decord"):
        with pytest.raises(DecodeError, match="an HLS playlist"):
            Video(member, decoder)
    assert Video(ts.read_bytes()).frames == 20  # a real transport stream still decodes
