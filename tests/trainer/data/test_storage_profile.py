"""Storage profiles (`vmae corpus build --for`): a corpus stored at 7.5 fps records its source's
rate, and the trainer reads a stride of 4 source frames as 1 stored frame, so that it sees the
same seconds of video as on a corpus stored at the source's 30 fps."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from torchcodec.decoders import VideoDecoder

from corpus.mix.run import MixOptions, mix
from corpus.synthetic import make_video
from tests.helpers import build_corpus
from trainer.data.config import DataConfig
from trainer.data.sampling import clip_stride, sample_stride, training_indices
from trainer.data.shards import resolve_shards
from trainer.data.stream import PretrainStream
from trainer.data.views import view_indices
from trainer.errors import DataError


@pytest.fixture(scope="module")
def two_rates(tmp_path_factory) -> dict[str, Path]:
    """One 30 fps video (moving pattern) built twice: at its own rate and with `--for pretrain`."""
    d = tmp_path_factory.mktemp("rates")
    make_video(d / "src" / "v.mp4", pattern="testsrc2", seconds=4, width=160, height=96, fps=30)
    for name, clip in (("full", {}), ("pretrain", {"storage": "pretrain"})):
        build_corpus(d / name, "movies", [d / "src"], clip={"clip_seconds": 4, **clip})
    return {"full": d / "full", "pretrain": d / "pretrain"}


def samples(corpus: Path) -> list[dict]:
    out = []
    for tar in sorted((corpus / "tars").glob("*.tar")):
        with tarfile.open(tar) as t:
            members = {m.name.rsplit(".", 1)[1]: t.extractfile(m).read() for m in t.getmembers()}
        out.append(members)
    return out


def keyframes(mp4: bytes, tmp: Path) -> list[int]:
    """Stored frame numbers of the keyframes, as ffprobe reads them."""
    (tmp / "k.mp4").write_bytes(mp4)
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "frame=key_frame",
                          "-of", "csv=p=0", str(tmp / "k.mp4")], capture_output=True, text=True, check=True).stdout
    flags = [line.split(",")[0] for line in out.splitlines() if line.strip()]  # (side data adds lines)
    return [n for n, flag in enumerate(flags) if flag == "1"]


def test_the_profile_is_recorded_in_the_manifest_and_the_build(two_rates, tmp_path):
    full, sparse = (pd.read_parquet(two_rates[k] / "clips").iloc[0] for k in ("full", "pretrain"))
    assert (full.fps, full.source_fps, sparse.fps, sparse.source_fps) == (30, 30, 7.5, 30)
    assert sparse.frames == 30 and full.frames == 120
    settings = json.loads((two_rates["pretrain"] / "build.json").read_text())["output_settings"]["clip"]
    assert (settings["storage"], settings["fps"], settings["gop"], settings["fast_decode"]) == \
        ("pretrain", 7.5, 16, True)
    assert keyframes(samples(two_rates["pretrain"])[0]["mp4"], tmp_path)[:2] == [0, 16]  # one window's decode


def test_both_corpora_show_the_same_seconds(two_rates):
    """Frames sampled at stride 4 from the 30 fps clip and at stride 1 (read from stride 4 and the
    recorded rates) from the 7.5 fps clip have equal timestamps, and show the same pictures."""
    full, sparse = samples(two_rates["full"])[0], samples(two_rates["pretrain"])[0]
    assert (sample_stride(full, 4), sample_stride(sparse, 4)) == (4.0, 1.0)
    cfg = DataConfig(frames=16, stride=4)
    dec_full, dec_sparse = VideoDecoder(full["mp4"]), VideoDecoder(sparse["mp4"])
    for seed in range(5):
        idx = training_indices(dec_sparse.metadata.num_frames, cfg, np.random.default_rng(seed), 1.0)
        seen_sparse = dec_sparse.get_frames_at(idx.tolist())
        seen_full = dec_full.get_frames_at((idx * 4).tolist())  # the same seconds, in the 30 fps clip
        np.testing.assert_allclose(seen_sparse.pts_seconds.numpy(), seen_full.pts_seconds.numpy(), atol=1e-6)
        assert np.allclose(np.diff(seen_sparse.pts_seconds.numpy()), 4 / 30)
        same = (seen_sparse.data.float() - seen_full.data.float()).abs().mean()
        next_frame = dec_full.get_frames_at((idx * 4 + 1).tolist()).data.float()
        assert same < 0.5 * (seen_full.data.float() - next_frame).abs().mean()  # the pictures too, not just times
    views = view_indices(dec_sparse.metadata.num_frames, cfg, 3, sample_stride(sparse, 4))
    assert (np.diff(views, axis=1) == 1).all()


def test_a_pretraining_stream_reads_the_sparse_corpus_at_the_recipes_stride(two_rates):
    """16 frames 4 apart do not fit in 30 stored frames: without the recorded rates every sample
    would be skipped as too short."""
    urls, _ = resolve_shards([str(two_rates["pretrain"])])
    cfg = DataConfig(frames=16, stride=4, img_size=32, patch=16, workers=0, shuffle_buffer=1)
    item = next(iter(PretrainStream(urls, cfg)))
    assert item["video"].shape == (3, 16, 32, 32) and item["skipped"] == 0
    with pytest.raises(DataError, match="could not be used"):  # stride 4 at 7.5 fps: 61 frames; the clip has 30
        next(iter(PretrainStream(urls, DataConfig(frames=16, stride=16, img_size=32, workers=0,
                                                   shuffle_buffer=1))))


def test_clip_stride_from_the_recorded_rates():
    assert clip_stride(4, {"fps": 30, "source_fps": 30}) == 4
    assert clip_stride(4, {"fps": 7.5, "source_fps": 29.97}) == 1  # NTSC rates round to whole frames
    assert clip_stride(4, {"fps": 7.5, "source_fps": 25}) == pytest.approx(1.2)  # 0.16 s apart either way
    assert clip_stride(4, {"fps": 25, "source_fps": None}) == 4  # a corpus from before the rates were recorded
    assert clip_stride(2, {"fps": 7.5, "source_fps": 30}) == 1  # too sparse for the stride: consecutive frames
    assert training_indices(30, DataConfig(frames=4, stride=4, tubelet=2), np.random.default_rng(0), 1.2).tolist() \
        in ([s, s + 1, s + 2, s + 4] for s in range(30))


def test_a_mix_keeps_the_recorded_rates(two_rates, tmp_path):
    """Mixed into a hybrid, a 7.5 fps clip is still read 1 stored frame apart at stride 4."""
    (tmp_path / "r.yaml").write_text("sources:\n  pt: {quota: 1}\n")
    mix(MixOptions(recipe=str(tmp_path / "r.yaml"), inputs={"pt": str(two_rates["pretrain"])}, out=str(tmp_path / "m")),
        progress=False)
    assert pd.read_parquet(tmp_path / "m" / "clips").source_fps.tolist() == [30]
    assert sample_stride(samples(tmp_path / "m")[0], 4) == 1.0
