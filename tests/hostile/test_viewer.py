"""The viewer attacked as a hostile page or a corpus from elsewhere would: a tar member that is a
playlist naming a local file, a page on another site re-bound to 127.0.0.1, URLs and tables that
no page expects. Every request gets a page, a 403 or a 404; a folder the viewer cannot show is
refused in one line when it starts."""

import json
import shutil
import subprocess
import sys
import tarfile
import threading
import urllib.parse
from pathlib import Path

import ffmpeg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpus.report_examples import examples
from corpus.synthetic import make_video
from corpus.view.media import Members, NotServed, member_sheet
from corpus.view.server import serve
from manifests.schemas import DEDUP, with_version
from tests.helpers import get, viewing

VMAE = Path(sys.executable).with_name("vmae")


@pytest.fixture
def copied(viewed_corpus, tmp_path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(viewed_corpus, copy)
    return copy


def test_a_member_that_is_a_playlist_draws_no_local_file(copied, tmp_path):
    private = make_video(tmp_path / "private" / "mine.mp4", pattern="mandelbrot", seconds=2, width=96, height=64,
                         fps=10)
    ts = tmp_path / "private" / "mine.ts"
    ffmpeg.input(str(private)).output(str(ts), c="copy", f="mpegts").run(quiet=True)
    clips = pd.read_parquet(copied / "clips")
    key, shard = clips.iloc[0][["clip_key", "shard"]]
    with tarfile.open(copied / shard) as tar:
        member = tar.getmember(f"{key}.mp4")
    playlist = f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n{ts}\n#EXT-X-ENDLIST\n".encode()
    with open(copied / shard, "r+b") as f:  # the member's bytes replaced in place, its size kept
        f.seek(member.offset_data)
        f.write(playlist.ljust(member.size, b"\n"))
    with viewing([copied], tmp_path / "cache") as address:
        assert get(address, f"/c/0/sheet/{urllib.parse.quote(key)}")[0] == 404
        assert get(address, f"/c/0/sheet/{urllib.parse.quote(clips.iloc[1]['clip_key'])}")[0] == 200
    assert len(list((tmp_path / "cache").glob("*.jpg"))) == 1  # the honest clip's sheet only
    located = Members().locate(copied, shard, key, "video")  # the report draws its examples this way
    with pytest.raises(NotServed, match="an HLS playlist"):
        member_sheet(located, 2.0)
    assert "source movies" in examples(copied)


def test_only_requests_addressed_to_the_viewer_are_answered(viewed_corpus, tmp_path):
    with viewing([viewed_corpus], tmp_path / "cache") as address:
        port = address.rsplit(":", 1)[1]
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}"):
            assert get(address, "/", {"Host": host})[0] == 200, host
        for host in (f"attacker.example:{port}", "127.0.0.1", f"127.0.0.1:{int(port) + 1}", ""):
            status, _, body = get(address, "/c/0/clips", {"Host": host})
            assert status == 403 and b"addressed to it as" in body and b"<table" not in body, host


def test_served_beyond_loopback_every_request_needs_the_run_token(viewed_corpus, tmp_path):
    server = serve([viewed_corpus], host="127.0.0.2", port=0, cache=tmp_path / "cache")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"127.0.0.2:{server.server_address[1]}"
    try:
        assert len(server.token) >= 20
        for path in ("/", "/c/0/clips", "/?token=wrong"):
            assert get(address, path)[0] == 403, path
        status, headers, _ = get(address, f"/c/0/clips?token={server.token}&per_page=24")
        assert status == 303 and headers["Location"] == "/c/0/clips?per_page=24"
        assert "HttpOnly" in headers["Set-Cookie"] and "SameSite=Strict" in headers["Set-Cookie"]
        cookie = headers["Set-Cookie"].split(";")[0]
        assert get(address, "/c/0/clips", {"Cookie": cookie})[0] == 200
        assert get(address, "/c/0/clips", {"Cookie": "vmae_view=guess"})[0] == 403
        rebound = f"rebound.example:{server.server_address[1]}"
        assert get(address, "/c/0/clips", {"Cookie": cookie, "Host": rebound})[0] == 403
    finally:
        server.shutdown()
        server.server_close()


def test_odd_requests_and_tables_get_a_page_or_a_404(copied, tmp_path):
    dedup = pd.read_parquet(copied / "dedup")
    dropped = dedup.index[~dedup["keep"].astype(bool)]
    dedup.loc[dropped, "duplicate_corpus"] = "/tmp/a\0b"
    shutil.rmtree(copied / "dedup")
    (copied / "dedup").mkdir()
    pq.write_table(pa.Table.from_pandas(dedup, schema=with_version(DEDUP, "dedup"), preserve_index=False),
                   copied / "dedup" / "part-0.parquet")
    with viewing([copied], tmp_path / "cache") as address:
        for path in ("/c/%C2%B2/clips", "/c/0/reject/%C2%B2", "/c/0/reject/99999999999999999999", "/c/%D9%A3/clips",
                     "/c/0/clip/%00", "/c/0/sheet/%FF%FE"):
            assert get(address, path)[0] == 404, path
        status, _, body = get(address, "/c/0/dedup")
        assert status == 200 and b"kept copy in /tmp/a" in body


@pytest.mark.parametrize("doc, why", [
    ([1, 2], "holds a JSON list"),
    ({"source": "mix", "mix": ["films"]}, "its 'mix' is a JSON list"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
])
def test_a_build_json_the_viewer_cannot_show_is_refused_in_one_line(copied, doc, why):
    (copied / "build.json").write_text(doc if isinstance(doc, str) else json.dumps(doc))
    done = subprocess.run([str(VMAE), "corpus", "view", str(copied), "--port", "0", "--no-browser"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and why in done.stderr and "build.json" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
