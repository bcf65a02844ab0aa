"""Resume and retry: kill -9 at any moment and rerun gives the same clips, none twice; transient
failures are retried later in new units without touching finished shards."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from corpus.errors import InputError
from manifests.validate import validate
from tests.helpers import build_corpus, check_corpus

VMAE = [sys.executable, "-m", "cli.main"]


def write_list(path, urls):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["videoid", "url"])
        w.writerows([[f"v{i}", u] for i, u in enumerate(urls)])
    return path


def cli_build(lst: Path, out: Path, workers: int) -> list[str]:
    return [*VMAE, "corpus", "build", "--source", "web", "--input", str(lst), "--out", str(out),
            "--workers", str(workers), "--unit-size", "2", "--shard-bytes", "150KB", "--short-side", "96",
            "--preset", "ultrafast", "--retries", "0", "--no-progress"]


def snapshot(root: Path) -> list[tuple]:
    clips = pd.read_parquet(root / "clips")
    return sorted(zip(clips.clip_key, clips.sha256, strict=True))


@pytest.mark.slow
def test_kill_9_at_any_moment_then_rerun_gives_the_same_clips(tmp_path, server):
    names = ["a", "b", "c", "long"] * 3
    lst = write_list(tmp_path / "list.csv", [f"{server}/{n}.mp4?copy={i}" for i, n in enumerate(names)])
    subprocess.run(cli_build(lst, tmp_path / "ref", 2), check=True, capture_output=True)
    reference = snapshot(tmp_path / "ref")
    assert len(reference) == len(names)

    out = tmp_path / "killed"
    for delay in (0.8, 1.6, 2.4, 3.2):  # kill at several moments of the same build, then resume each time
        proc = subprocess.Popen(cli_build(lst, out, 2), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    resumed = subprocess.run(cli_build(lst, out, 2), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]  # (once, under load, exit 2: its message tells why)
    assert snapshot(out) == reference
    check_corpus(out)
    assert not (out / ".work").exists() or not any((out / ".work").iterdir())


def test_a_unit_killed_just_before_its_marker_keeps_its_clips(tmp_path, server):
    # its tars, clips, shards and videos parts were written, then the kill came: the rerun must keep
    # them (it once rewrote the unit as if it had made nothing, losing its clips and tars)
    lst = write_list(tmp_path / "list.csv", [f"{server}/{n}.mp4" for n in ("a", "b", "c")])
    build_corpus(tmp_path / "c", "web", [lst], unit_size=1)
    reference = snapshot(tmp_path / "c")
    (tmp_path / "c" / "done" / "u000001.json").unlink()
    build_corpus(tmp_path / "c", "web", [lst], unit_size=1)
    assert snapshot(tmp_path / "c") == reference and len(reference) == 3
    check_corpus(tmp_path / "c")


def test_rerun_of_a_finished_build_changes_nothing(tmp_path, server):
    lst = write_list(tmp_path / "list.csv", [f"{server}/a.mp4", f"{server}/b.mp4"])
    build_corpus(tmp_path / "c", "web", [lst], unit_size=1)
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "c").rglob("*.tar")}
    build_corpus(tmp_path / "c", "web", [lst], unit_size=1)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "c").rglob("*.tar")} == before


def test_retry_failed_requeues_transient_failures_only(tmp_path, server):
    lst = write_list(tmp_path / "list.csv", [f"{server}/a.mp4", f"{server}/flaky/1/b.mp4",
                                             f"{server}/status/404/c.mp4"])
    build_corpus(tmp_path / "c", "web", [lst], unit_size=10)
    videos = pd.read_parquet(tmp_path / "c" / "videos").set_index("video_id")
    assert videos.loc["v1", "error_kind"] == "http_5xx"
    first_shards = {p.name: p.read_bytes() for p in (tmp_path / "c" / "tars").glob("*.tar")}

    build_corpus(tmp_path / "c", "web", [lst], unit_size=10, retry_failed=True)
    videos = pd.read_parquet(tmp_path / "c" / "videos").set_index("video_id")
    assert list(videos.sort_values("row")["status"]) == ["ok", "ok", "failed"]
    assert videos.loc["v1", "unit"].startswith("r001-") and videos.loc["v1", "attempts"] == 2
    assert videos.loc["v2", "error_kind"] == "not_found"  # permanent: not retried
    for name, data in first_shards.items():  # finished shards untouched
        assert (tmp_path / "c" / "tars" / name).read_bytes() == data
    assert len(check_corpus(tmp_path / "c")) == 2


def test_retries_with_backoff_inside_one_build(tmp_path, server):
    lst = write_list(tmp_path / "list.csv", [f"{server}/flaky/2/c.mp4"])
    build_corpus(tmp_path / "c", "web", [lst], fetch={"retries": 2})
    row = pd.read_parquet(tmp_path / "c" / "videos").iloc[0]
    assert row.status == "ok" and row.attempts == 3


def test_size_cap(tmp_path, server):
    lst = write_list(tmp_path / "list.csv", [f"{server}/long.mp4"])
    build_corpus(tmp_path / "c", "web", [lst], fetch={"max_bytes": 1000})
    assert pd.read_parquet(tmp_path / "c" / "videos").iloc[0].error_kind == "too_large"


def test_rerun_with_other_inputs_is_refused(tmp_path, server):
    lst = write_list(tmp_path / "list.csv", [f"{server}/a.mp4"])
    build_corpus(tmp_path / "c", "web", [lst])
    write_list(lst, [f"{server}/a.mp4", f"{server}/b.mp4"])
    with pytest.raises(InputError, match="planned from other inputs"):
        build_corpus(tmp_path / "c", "web", [lst])
    with pytest.raises(InputError, match=r"other settings \(media\.short_side\)"):
        write_list(lst, [f"{server}/a.mp4"])
        build_corpus(tmp_path / "c", "web", [lst], clip={"short_side": 64})
    assert validate(tmp_path / "c").ok
