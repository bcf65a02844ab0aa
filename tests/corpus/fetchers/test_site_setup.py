"""What vmae does when a site, not a video, is the problem: yt-dlp finds its JavaScript runtime
and EJS scripts whatever PATH is, its warnings are kept, extractor arguments reach it, and a
streak of rows failing for one set-up cause stops the build with what to fix, rows left pending."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from corpus.watch import SetupFault, setup_cause
from tests.helpers import build_corpus, check_corpus

ROOT = str(Path(__file__).resolve().parents[3])


def test_js_runtime_and_ejs_found_with_path_stripped():
    code = ("from corpus.fetchers.jsruntime import js_support\n"
            "s = js_support()\nprint(s.runtime, '|', s.ejs)\nassert s.ok, s")
    run = subprocess.run([sys.executable, "-c", code], env={"PATH": "", "HOME": os.environ.get("HOME", "/")},
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    runtime, ejs = run.stdout.split("|")
    assert runtime.startswith("deno ") and os.path.isabs(runtime.split(" at ")[1].strip())
    assert ejs.strip()


def _kinetics(tmp_path, n: int):
    ann = tmp_path / "k.csv"
    ann.write_text("label,youtube_id,time_start,time_end,split\n" +
                   "".join(f"x,vid{k:02d},0,2,train\n" for k in range(n)))
    return ann


def test_warnings_are_kept_once_and_extractor_args_reach_ytdlp(tmp_path, server, capfd):
    # generic:impersonate asks yt-dlp for a browser impersonation no installed library offers: it warns
    build_corpus(tmp_path / "k", "kinetics", [_kinetics(tmp_path, 3)],
                 source_options={"url_template": f"{server}/a.mp4?v={{youtube_id}}"},
                 fetch={"extractor_args": ("generic:impersonate",)})
    check_corpus(tmp_path / "k")
    warnings = json.loads((tmp_path / "k" / "build.json").read_text())["tool_warnings"]
    (text, count), = warnings.items()
    assert "impersonat" in text and count == 3
    assert capfd.readouterr().err.count("warning (yt-dlp): [generic] The extractor is attempting impersonation") == 1


def test_formats_missing_on_every_row_stop_the_build_rows_pending(tmp_path, server):
    ann = _kinetics(tmp_path, 8)
    opts = {"source_options": {"url_template": f"{server}/a.mp4?v={{youtube_id}}"}, "unit_size": 2}
    with pytest.raises(SetupFault) as stop:  # as when YouTube's JS challenge goes unsolved
        build_corpus(tmp_path / "k", "kinetics", [ann], fetch={"format": "bv*[height>=2000]", "setup_fault_rows": 3},
                     **opts)
    assert "vmae doctor" in str(stop.value) and "127.0.0.1" in str(stop.value)
    videos = pd.read_parquet(tmp_path / "k" / "videos")
    assert len(videos) == 8 and (videos["status"] == "pending").all()  # the first unit's rows too
    assert json.loads((tmp_path / "k" / "build.json").read_text())["state"] == "stopped"
    build_corpus(tmp_path / "k", "kinetics", [ann], **opts)  # fixed: the same command resumes
    assert (pd.read_parquet(tmp_path / "k" / "videos")["status"] == "ok").all()
    assert len(check_corpus(tmp_path / "k")) == 8


def test_a_rate_limit_on_every_request_backs_off_then_stops(tmp_path, server):
    urls = tmp_path / "urls.csv"
    urls.write_text("url\n" + "".join(f"{server}/status/429/v{k}.mp4\n" for k in range(10)))
    start = time.monotonic()
    with pytest.raises(SetupFault, match="slow down"):
        build_corpus(tmp_path / "w", "web", [urls], fetch={"setup_fault_rows": 4, "backoff_s": 0.1}, unit_size=1)
    assert time.monotonic() - start > 0.1 + 0.2 + 0.4  # growing sleeps between the first rows
    videos = pd.read_parquet(tmp_path / "w" / "videos")
    assert (videos["status"] == "pending").all() and len(videos) == 10


def test_other_failures_do_not_stop_a_build(tmp_path, server):
    urls = tmp_path / "urls.csv"
    urls.write_text("url\n" + "".join(f"{server}/status/404/v{k}.mp4\n" for k in range(6)))
    build_corpus(tmp_path / "w", "web", [urls], fetch={"setup_fault_rows": 2})
    assert (pd.read_parquet(tmp_path / "w" / "videos")["error_kind"] == "not_found").all()


@pytest.mark.parametrize("message,cause", [
    ("[youtube] abc: Requested format is not available. Use --list-formats for a list of available formats",
     "formats"),
    ("[youtube] abc: Sign in to confirm you’re not a bot. Use --cookies-from-browser or --cookies", "bot_check"),
    ("[youtube] abc: n challenge solving failed: Some formats may be missing", "formats"),
    ("HTTP Error 429: Too Many Requests", "rate_limited"),
    ("[youtube] abc: Video unavailable", None),
])
def test_setup_causes_of_real_messages(message, cause):
    found = setup_cause(message)
    assert (found[0] if found else None) == cause
