"""Both decoder backends give the same frames of real H.264 clips, refuse broken input with a
DecodeError, and CUDA decoding asked for on a machine without a GPU falls back, counted."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from trainer.data import decode
from trainer.data.config import DataConfig
from trainer.data.decode import DecodeError, Video


@pytest.mark.parametrize("name", ["a.mp4", "b.mp4", "long.mp4"])
def test_torchcodec_and_decord_decode_the_same_frames(videos, name):
    data = (videos / name).read_bytes()
    tc, dc = Video(data, "torchcodec"), Video(data, "decord")
    assert tc.frames == dc.frames > 40
    idx = np.array([[0, 8, 8, 3], [tc.frames - 1, 20, 5, 0]])  # repeats, any order, 2-D like the test views
    a, b = tc.get(idx), dc.get(idx)
    assert a.shape == b.shape == (2, 4, *a.shape[2:]) and a.dtype == np.uint8
    # same FFmpeg decode, colour conversion may round differently by a level
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 2.0
    assert (a[0, 1] == a[0, 2]).all() and not (a[0, 0] == a[1, 0]).all()


@pytest.mark.parametrize("decoder", ["torchcodec", "decord"])
@pytest.mark.parametrize("name", ["garbage.mp4", "empty.mp4", "truncated.mp4"])
def test_broken_videos_raise_decode_error(videos, decoder, name):
    with pytest.raises(DecodeError):
        Video((videos / name).read_bytes(), decoder).get(np.arange(4))


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(DecodeError, match="does not exist"):
        Video(tmp_path / "nope.mp4", "torchcodec")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the fallback of a machine without a GPU")
def test_cuda_decoding_without_a_gpu_falls_back_to_the_cpu_counted(videos, caplog, monkeypatch):
    monkeypatch.setattr(decode, "FALLBACKS", decode.Fallbacks())
    data = (videos / "a.mp4").read_bytes()
    with caplog.at_level(logging.WARNING, logger="trainer.data.decode"):
        frames = [Video(data, "torchcodec", "cuda").get(np.arange(3)) for _ in range(3)]
    assert decode.FALLBACKS.count == 3
    assert sum("decoding on the CPU instead" in r.message for r in caplog.records) == 1  # warned once, counted always
    assert (frames[0] == Video(data, "torchcodec", "cpu").get(np.arange(3))).all()


def test_decoder_settings_are_checked():
    with pytest.raises(ValueError, match="decoder must be one of"):
        DataConfig(decoder="pyav")
    with pytest.raises(ValueError, match="needs --decoder torchcodec"):
        DataConfig(decoder="decord", decode_device="cuda")
    with pytest.raises(ValueError, match="cpu or cuda"):
        DataConfig(decode_device="tpu")
