"""The Ray executor on a local Ray instance (2 CPUs): it builds the same corpus as the local
executor (same clips, bytes, tars and rows), a Ray worker killed mid-build loses nothing, a
build started by one executor resumes under the other, and dedup's search and the mix give
what they give locally."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from manifests.validate import validate
from tests.helpers import snapshot

pytest.importorskip("ray", reason="Ray is an extra: pip install 'vmae[ray]' (make test installs it)")

VMAE = [sys.executable, "-m", "cli.main"]


def command(url_list: Path, out: Path, executor: str) -> list[str]:
    return [*VMAE, "corpus", "build", "--source", "web", "--input", str(url_list), "--out", str(out),
            "--workers", "2", "--executor", executor, "--unit-size", "1", "--shard-bytes", "200KB",
            "--short-side", "96", "--preset", "ultrafast", "--retries", "0", "--no-progress"]


@pytest.fixture(scope="module")
def url_list(tmp_path_factory, server):
    d = tmp_path_factory.mktemp("ray")
    names = ["long", "a", "c", "long", "b", "a", "long"]
    lst = d / "list.csv"
    lst.write_text("url\n" + "".join(f"{server}/{n}.mp4?copy={i}\n" for i, n in enumerate(names))
                   + f"{server}/status/404/gone.mp4\n")
    subprocess.run(command(lst, d / "reference", "local"), check=True, capture_output=True)
    return lst, snapshot(d / "reference")


def test_ray_builds_the_same_corpus_as_the_local_executor(tmp_path, url_list):
    lst, reference = url_list
    done = subprocess.run(command(lst, tmp_path / "ray", "ray"), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert snapshot(tmp_path / "ray") == reference and validate(tmp_path / "ray").ok
    assert "ok=7" in done.stdout and "not_found=1" in done.stdout and "step        fetch" in done.stdout


def _ray_unit_workers() -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and b"ray::_vmae_task" in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def test_a_ray_worker_killed_mid_build_loses_nothing(tmp_path, url_list):
    lst, reference = url_list
    driver = subprocess.Popen(command(lst, tmp_path / "ray", "ray"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    killed, deadline = 0, time.time() + 120
    while not killed and driver.poll() is None and time.time() < deadline:
        for pid in _ray_unit_workers():
            os.kill(pid, signal.SIGKILL)  # a worker lost in the middle of a unit
            killed += 1
        time.sleep(0.05)
    out, err = driver.communicate(timeout=300)
    assert killed and driver.returncode == 0, err[-2000:]
    assert snapshot(tmp_path / "ray") == reference and validate(tmp_path / "ray").ok


def test_a_build_stopped_under_one_executor_resumes_under_the_other(tmp_path, url_list):
    lst, reference = url_list
    out = tmp_path / "moved"
    proc = subprocess.Popen(command(lst, out, "local"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 60
    while not len(list((out / "done").glob("u*.json"))) >= 2 and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 2 <= len(list((out / "done").glob("u*.json"))) < 8  # stopped half-way
    done = subprocess.run(command(lst, out, "ray"), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert snapshot(out) == reference and validate(out).ok


def test_a_mix_on_ray_writes_the_same_shards_as_a_local_one(tmp_path, url_list):
    lst, _ = url_list
    reference = lst.parent / "reference"
    (tmp_path / "r.yaml").write_text("sources:\n  web: {quota: 7}\n")
    made = {}
    for executor in ("local", "ray"):
        out = tmp_path / executor
        done = subprocess.run([*VMAE, "corpus", "mix", "--recipe", str(tmp_path / "r.yaml"), "--input",
                               f"web={reference}", "--out", str(out), "--shard-bytes", "100KB", "--workers", "2",
                               "--executor", executor, "--no-progress"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        made[executor] = snapshot(out)["shards"]
    assert len(made["local"]) > 1 and made["ray"] == made["local"]


def test_dedup_on_ray_decides_as_a_local_one(tmp_path, url_list):
    """The near-pair search and the semantic pass (--embeddings: every clip given one direction,
    so all the videos left after the signature passes are one semantic group) as Ray tasks."""
    lst, _ = url_list
    keys = pd.read_parquet(lst.parent / "reference" / "clips")["clip_key"]
    emb = tmp_path / "emb.parquet"
    pq.write_table(pa.table({"clip_key": keys, "embedding": pa.FixedSizeListArray.from_arrays(
        pa.array(np.ones(len(keys) * 8, np.float32)), 8)}), emb)
    decided = {}
    for executor in ("local", "ray"):
        corpus = tmp_path / executor
        shutil.copytree(lst.parent / "reference", corpus, symlinks=True)
        done = subprocess.run([*VMAE, "corpus", "dedup", str(corpus), "--workers", "2", "--executor", executor,
                               "--embeddings", str(emb), "--clusters", "2", "--no-progress"],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        table = pd.read_parquet(corpus / "dedup").drop(columns="duplicate_corpus")  # each names its own folder
        decided[executor] = table.sort_values("clip_key").astype(str).values.tolist()
    # the list holds the same videos several times: copies are found, one of each kept
    assert sum(row[2] == "False" for row in decided["local"]) >= 3 and decided["ray"] == decided["local"]
    assert any(row[3] == "semantic" for row in decided["local"])


def test_a_unit_whose_worker_dies_every_time_is_tried_twice_then_reported(tmp_path):
    """As a unit holding a memory bomb would: Ray's own defaults run it 4 times (16 when its memory
    monitor kills it); vmae tries twice, then stops, naming the unit."""
    from dataclasses import dataclass

    from corpus.errors import MachineFault
    from corpus.executors.ray import RayExecutor, RayOptions
    from corpus.options import ExecutorOptions

    @dataclass
    class Unit:
        unit: str

    tries = tmp_path / "tries"

    def dies(item):  # a closure: Ray sends it by value
        with open(tries, "a") as f:
            f.write(item.unit + "\n")
        os._exit(1)

    with pytest.raises(MachineFault, match=r"the Ray worker running unit u000007 died on each of its 2 tries"):
        RayExecutor(RayOptions(), ExecutorOptions("ray", workers=1)).map(dies, [Unit("u000007")],
                                                                        lambda item, result: None)
    assert tries.read_text().split() == ["u000007", "u000007"]
