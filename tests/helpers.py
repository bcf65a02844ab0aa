"""Shared test helpers: build a corpus in-process, and check one end to end."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import decord
import pandas as pd

from corpus.build import build
from corpus.options import BuildOptions, ClipOptions, FetchOptions
from manifests.validate import validate


def build_corpus(out: Path, source: str, inputs, *, clip: dict | None = None, fetch: dict | None = None,
                 retry_failed: bool = False, **options) -> dict:
    opts = BuildOptions(source=source, inputs=tuple(str(i) for i in inputs), out=str(out),
                        clip=ClipOptions(**({"short_side": 96, "preset": "ultrafast"} | (clip or {}))),
                        fetch=FetchOptions(**({"timeout_s": 3, "retries": 0, "backoff_s": 0.05} | (fetch or {}))),
                        **({"workers": 1, "shard_bytes": 400_000} | options))
    return build(opts, progress=False, retry_failed=retry_failed)


def check_corpus(root: Path) -> pd.DataFrame:
    """Validate the corpus, then decode every clip in every tar with decord and compare it with
    its clips/ row. Returns the clips table."""
    report = validate(root)
    assert report.ok, report.problems
    clips = pd.read_parquet(root / "clips").set_index("clip_key")
    seen = 0
    for tar_path in sorted((root / "tars").glob("*.tar")):
        with tarfile.open(tar_path) as tar:
            for m in tar.getmembers():
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
