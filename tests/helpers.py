"""Shared test helpers: build a corpus in-process, and check one end to end."""

from __future__ import annotations

import contextlib
import csv
import http.client
import io
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import decord
import pandas as pd
import pytest
from PIL import Image

from corpus.build import build
from corpus.config import configure_build
from corpus.localserve import serve_folder
from corpus.options import BuildOptions
from corpus.synthetic import DIRECTIONS, make_video
from corpus.view.server import serve
from manifests.validate import validate

# small, fast clips and quick failures unless a test says otherwise
TEST_DEFAULTS = {"short_side": 96, "preset": "ultrafast", "timeout_s": 3, "retries": 0, "backoff_s": 0.05, "workers": 1,
                 "shard_bytes": 400_000}


def build_options(out: Path, source: str, inputs, **settings) -> BuildOptions:
    """A build's options from settings by name (clip, fetch and image: groups of them), as the command reads them."""
    flat = {k: v for k, v in settings.items() if k not in ("clip", "fetch", "image")}
    for group in ("clip", "fetch", "image"):
        flat |= settings.get(group) or {}
    return configure_build({"source": source, "inputs": [str(i) for i in inputs], "out": str(out), **flat},
                           defaults=TEST_DEFAULTS)


def build_corpus(out: Path, source: str, inputs, *, retry_failed: bool = False, plan_only: bool = False,
                 **settings) -> dict:
    return build(build_options(out, source, inputs, **settings), progress=False, retry_failed=retry_failed,
                 plan_only=plan_only)


def check_corpus(root: Path) -> pd.DataFrame:
    """Validate the corpus, then decode every clip in every tar with decord (every image with
    Pillow) and compare it with its clips/ row. Returns the clips table."""
    report = validate(root)
    assert report.ok, report.problems
    clips = pd.read_parquet(root / "clips").set_index("clip_key")
    seen = 0
    for tar_path in sorted((root / "tars").glob("*.tar")):
        with tarfile.open(tar_path) as tar:
            for m in tar.getmembers():
                if m.name.endswith(".jpg"):  # an image sample
                    with Image.open(io.BytesIO(tar.extractfile(m).read())) as img:
                        row = clips.loc[m.name[: -len(".jpg")]]
                        assert img.format == "JPEG" and img.size == (row.width, row.height)
                    seen += 1
                if not m.name.endswith(".mp4"):
                    continue
                row = clips.loc[m.name[: -len(".mp4")]]
                vr = decord.VideoReader(io.BytesIO(tar.extractfile(m).read()))
                h, w = vr[0].shape[:2]
                assert (w, h) == (row.width, row.height)
                assert abs(vr.get_avg_fps() - row.fps) < 0.5
                assert abs(len(vr) / vr.get_avg_fps() - row.duration_s) < 0.15
                assert min(w, h) <= 96 and w % 2 == 0 and h % 2 == 0
                seen += 1
    assert seen == len(clips)
    return clips.reset_index()


def motion_corpus(root, name, classes, per_class, seed):
    """A labeled web corpus of scrolling scenes, served from 127.0.0.1."""
    src = root / f"{name}_src"
    rows = []
    for k in range(per_class * len(classes)):
        label = classes[k % len(classes)]
        dx, dy = DIRECTIONS[label]
        p = make_video(src / f"{name}{k}.mp4", pattern=f"scene{seed + k}", seconds=1.6, width=80, height=60,
                       fps=10, scroll=(0.04 * dx, 0.04 * dy), extra_boxes=6)
        rows.append((p, label))
    with serve_folder(src) as base:
        with open(root / f"{name}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["videoid", "contentUrl", "label"])
            w.writerows((p.stem, f"{base}/{p.name}", label) for p, label in rows)
        build_corpus(root / name, "web", [root / f"{name}.csv"], clip={"short_side": 48}, workers=2)
    return root / name


@contextlib.contextmanager
def tmpfs(mount: Path, size: str) -> Iterator[Path]:
    """A real tmpfs of `size` (e.g. 2m) mounted at `mount` for the block; the test is skipped with
    the reason where mounting is not allowed (it needs root)."""
    mount.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'mount failed'}); needs root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@contextlib.contextmanager
def viewing(roots, cache, host: str = "127.0.0.1") -> Iterator[str]:
    """`vmae corpus view` of `roots` on a free port of `host`, in a thread; yields host:port."""
    server = serve(roots, host=host, port=0, cache=cache)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def get(address: str, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    """One GET through a real HTTP connection: status, headers, body."""
    conn = http.client.HTTPConnection(address, timeout=30)
    conn.request("GET", path, headers=headers or {})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, dict(r.getheaders()), body


def snapshot(root: Path) -> dict:
    """What two builds of the same inputs must share: clips, shards and rows (attempts aside)."""
    clips = pd.read_parquet(root / "clips").sort_values("clip_key")
    videos = pd.read_parquet(root / "videos").sort_values("row").drop(columns=["attempts"])
    shards = pd.read_parquet(root / "shards").sort_values("shard")
    return {"clips": list(zip(clips.clip_key, clips.sha256, clips.shard, strict=True)),
            "shards": list(zip(shards.shard, shards.sha256, strict=True)),
            "videos": videos.astype(str).values.tolist()}
