"""Faults of the machine are not faults of a row: a full disk, a file system that turns
read-only, a corpus folder deleted mid-build, too many open files. The build stops with a clear message (exit 3),
fails no row, leaves no half-written file, and the rerun completes to the corpus an undisturbed
build makes. Real tmpfs mounts; skipped with a reason where mounting is not allowed."""

import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from corpus.localserve import serve_folder
from corpus.synthetic import make_video
from manifests.validate import validate
from tests.helpers import tmpfs as mounted

VMAE = [sys.executable, "-m", "cli.main"]


@pytest.fixture(scope="module")
def big_list(tmp_path_factory):
    """Six detailed videos whose clips take about 1 MB each, served on 127.0.0.1."""
    d = tmp_path_factory.mktemp("faults")
    for k in range(6):
        make_video(d / "src" / f"v{k}.mp4", pattern="testsrc2", seconds=4, width=640, height=480, fps=25)
    with serve_folder(d / "src") as base:
        (d / "list.csv").write_text("url\n" + "".join(f"{base}/v{k}.mp4\n" for k in range(6)))
        subprocess.run(command(d / "list.csv", d / "reference"), check=True, capture_output=True)
        yield d / "list.csv", clips_of(d / "reference")


def command(url_list: Path, out: Path) -> list[str]:
    return [*VMAE, "corpus", "build", "--source", "web", "--input", str(url_list), "--out", str(out), "--workers",
            "1", "--unit-size", "1", "--short-side", "480", "--crf", "8", "--retries", "0", "--no-progress"]


def clips_of(root: Path) -> list[tuple]:
    clips = pd.read_parquet(root / "clips")
    return sorted(zip(clips.clip_key, clips.sha256, strict=True))


@pytest.fixture()
def tmpfs(tmp_path):
    with mounted(tmp_path / "mnt", "2m") as mount:
        yield mount


def remount(mount: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(mount)], check=True)


def no_row_failed(root: Path) -> bool:
    return set(pd.read_parquet(root / "videos")["status"]) <= {"pending", "ok"}


def test_a_full_disk_stops_the_build_and_the_rerun_completes(tmpfs, big_list):
    url_list, reference = big_list
    out = tmpfs / "c"
    done = subprocess.run(command(url_list, out), capture_output=True, text=True)
    assert done.returncode == 3, done.stderr[-2000:]
    assert "no space left on the device" in done.stderr and "MB free" in done.stderr
    assert "rerun the same command" in done.stderr and "Traceback" not in done.stderr
    assert no_row_failed(out) and validate(out).ok  # no row failed, nothing half-written
    remount(tmpfs, "size=64m")
    subprocess.run(command(url_list, out), check=True, capture_output=True)
    assert clips_of(out) == reference and validate(out).ok


def wait_for_a_finished_unit(out: Path, proc: subprocess.Popen) -> None:
    deadline = time.time() + 60
    while not list((out / "done").glob("u*.json")) and time.time() < deadline:
        assert proc.poll() is None, "the build ended before the fault"
        time.sleep(0.02)


def test_a_read_only_corpus_folder_stops_the_build_and_the_rerun_completes(tmpfs, big_list):
    url_list, reference = big_list
    remount(tmpfs, "size=64m")
    out = tmpfs / "c"
    subprocess.run([*command(url_list, out), "--plan-only"], check=True, capture_output=True)
    remount(tmpfs, "ro")  # as a shared file system remounted read-only between two runs
    done = subprocess.run(command(url_list, out), capture_output=True, text=True)
    assert done.returncode == 3 and "read-only" in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]
    remount(tmpfs, "rw")
    assert set(pd.read_parquet(out / "videos")["status"]) == {"pending"}
    subprocess.run(command(url_list, out), check=True, capture_output=True)
    assert clips_of(out) == reference and validate(out).ok


def test_a_corpus_folder_deleted_mid_build_stops_it_and_the_rerun_completes(tmp_path, big_list):
    url_list, reference = big_list
    out = tmp_path / "c"
    proc = subprocess.Popen(command(url_list, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_a_finished_unit(out, proc)
    while out.exists():  # files may appear while it is being deleted
        shutil.rmtree(out, ignore_errors=True)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 3 and "vanished" in err and "Traceback" not in err, err[-2000:]
    assert not out.exists()  # no skeleton corpus was made
    subprocess.run(command(url_list, out), check=True, capture_output=True)
    assert clips_of(out) == reference and validate(out).ok


def test_too_many_open_files_stops_the_build_and_the_rerun_completes(tmp_path, big_list):
    url_list, reference = big_list
    out = tmp_path / "c"
    # the tightest limits: Python starts, then opening a file or pipe for the work fails
    for limit in range(5, 12):
        def tight(n=limit):
            resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))

        done = subprocess.run(command(url_list, out), capture_output=True, text=True, preexec_fn=tight)
        if done.returncode == 3:
            break
    assert done.returncode == 3, done.stderr[-2000:]
    assert "too many open files" in done.stderr and "Traceback" not in done.stderr
    assert no_row_failed(out) and validate(out).ok
    subprocess.run(command(url_list, out), check=True, capture_output=True)
    assert clips_of(out) == reference and validate(out).ok
