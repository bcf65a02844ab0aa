"""Decoder backends: one way to open a video (bytes from a shard, or a file) and take frames from
it, with torchcodec (PyTorch's maintained decoder, CPU or CUDA) or decord (kept for old set-ups).

Frames come back as (T, H, W, C) uint8 numpy arrays on the CPU whatever decoded them: the
augmentation after decoding and the loader's hand-over to the training process work on those.
Asking for CUDA decoding where there is no GPU (or a torchcodec without CUDA) decodes on the CPU
instead, with one warning per process and a count the loop logs as `decode_fallbacks`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from manifests.containers import SNIFF_BYTES, not_a_video
from trainer.errors import ConfigError

log = logging.getLogger(__name__)

DECODERS = ("torchcodec", "decord")
DECODE_DEVICES = ("cpu", "cuda")


class DecodeError(Exception):
    """This video cannot be decoded (a fault of the input: the caller counts and skips it)."""


@dataclass
class Fallbacks:
    """Clips decoded on the CPU although CUDA was asked for, in this process."""

    count: int = 0
    warned: bool = False

    def add(self, reason: str) -> None:
        self.count += 1
        if not self.warned:
            self.warned = True
            log.warning("--decode-device cuda: %s; decoding on the CPU instead (counted as decode_fallbacks)", reason)


FALLBACKS = Fallbacks()


def check_decoder(decoder: str, device: str) -> None:
    if decoder not in DECODERS:
        raise ConfigError(f"decoder must be one of {', '.join(DECODERS)}, got {decoder!r}")
    if device not in DECODE_DEVICES:
        raise ConfigError(f"decode_device must be cpu or cuda, got {device!r}")
    if device == "cuda" and decoder != "torchcodec":
        raise ConfigError("--decode-device cuda needs --decoder torchcodec (decord decodes on the CPU only)")


def _cuda_usable() -> str | None:
    """Why CUDA decoding cannot be used here, or None when it can."""
    import torch

    return None if torch.cuda.is_available() else "no CUDA device is visible"


@dataclass(frozen=True)
class FrameLimits:
    """What a decoded frame may cost: larger frames are refused before any is decoded, and frames
    whose short side is over max_short_side are scaled down inside the decoder (VideoMAE's loaders
    decode at a short side of 256-320 too), so a 200 KB file of 8192 x 8192 frames costs megabytes,
    not gigabytes."""

    max_pixels: int = 8192 * 8192
    max_short_side: int = 512


class Video:
    """An opened video: its frame count and frames by index."""

    def __init__(self, source: bytes | Path, decoder: str = "torchcodec", device: str = "cpu", threads: int = 1,
                 limits: FrameLimits = FrameLimits()):
        self.decoder, self.device = decoder, "cpu"
        refused = not_a_video(_head(source))
        if refused:  # a playlist in a shard would have the decoder open other files
            raise DecodeError(refused)
        try:
            if decoder == "decord":
                self._open_decord(source, threads, limits)
            else:
                self._open_torchcodec(source, device, threads, limits)
        except _errors(decoder) as e:
            raise DecodeError(_reason(e, source)) from e
        if self.frames <= 0:
            raise DecodeError("the video has no frames")

    def _open_decord(self, source: bytes | Path, threads: int, limits: FrameLimits) -> None:
        import io

        import decord
        from torchcodec.decoders import VideoDecoder  # reads the frame size from the header alone

        src = source if isinstance(source, bytes) else str(source)
        meta = VideoDecoder(src, seek_mode="approximate").metadata
        size = _decoded_size(meta.width, meta.height, limits)
        resize = {} if size is None else {"width": size[1], "height": size[0]}
        self._reader = decord.VideoReader(io.BytesIO(source) if isinstance(source, bytes) else str(source),
                                          num_threads=threads, **resize)
        self.frames = len(self._reader)

    def _open_torchcodec(self, source: bytes | Path, device: str, threads: int, limits: FrameLimits) -> None:
        from torchcodec.decoders import VideoDecoder
        from torchcodec.transforms import Resize

        if device == "cuda" and (why := _cuda_usable()) is not None:
            FALLBACKS.add(why)
            device = "cpu"
        self.device = device
        src = source if isinstance(source, bytes) else str(source)
        # approximate: frame positions from the header instead of a scan of the whole file first
        # (our clips are constant frame rate); _get_unique retries exactly if that misleads
        self._args = {"dimension_order": "NHWC", "num_ffmpeg_threads": threads, "device": device}
        self._reader = VideoDecoder(src, seek_mode="approximate", **self._args)
        size = _decoded_size(self._reader.metadata.width, self._reader.metadata.height, limits)
        if size is not None:  # opened again, scaling inside the decoder
            self._args["transforms"] = [Resize(size)]
            try:
                self._reader = VideoDecoder(src, seek_mode="approximate", **self._args)
            except (RuntimeError, ValueError):
                if device == "cpu":
                    raise
                # not verified on a GPU yet: a GPU decoder that cannot scale hands over to the CPU's
                FALLBACKS.add("the GPU decoder could not scale these frames inside the decoder")
                self.device = self._args["device"] = "cpu"
                self._reader = VideoDecoder(src, seek_mode="approximate", **self._args)
        self._src = src
        self.frames = int(self._reader.metadata.num_frames or 0)

    def get(self, indices: np.ndarray) -> np.ndarray:
        """(len(indices), H, W, C) uint8 frames; indices may repeat and come in any order."""
        unique, where = np.unique(np.asarray(indices).ravel(), return_inverse=True)
        try:
            frames = self._get_unique(unique.tolist())
        except _errors(self.decoder) as e:
            raise DecodeError(_reason(e, None)) from e
        if len(unique) == where.size and (where == np.arange(where.size)).all():
            return frames.reshape(*np.shape(indices), *frames.shape[1:])  # in order, none twice: no copy
        return frames[where].reshape(*np.shape(indices), *frames.shape[1:])

    def _get_unique(self, indices: list[int]) -> np.ndarray:
        if self.decoder == "decord":
            return self._reader.get_batch(indices).asnumpy()
        try:
            batch = self._reader.get_frames_at(indices)
        except (RuntimeError, IndexError):  # the header's frame count or timing was off: scan, then decode
            from torchcodec.decoders import VideoDecoder

            self._reader = VideoDecoder(self._src, seek_mode="exact", **self._args)
            self.frames = int(self._reader.metadata.num_frames or 0)
            batch = self._reader.get_frames_at(indices)
        if self.device == "cuda" and self._reader.cpu_fallback:
            FALLBACKS.add(f"the GPU decoder could not take this stream ({self._reader.cpu_fallback})")
        return batch.data.cpu().numpy()


def _decoded_size(width: int | None, height: int | None, limits: FrameLimits) -> tuple[int, int] | None:
    """(height, width) to scale frames to inside the decoder, None to keep them; refuses frames
    over the pixel cap (and a stream that does not say its size)."""
    if not width or not height:
        raise DecodeError("the video stream does not say its frame size")
    if width * height > limits.max_pixels:
        raise DecodeError(f"{width}x{height} frames are over the cap of {limits.max_pixels:,} pixels "
                          "(data.max_pixels)")
    if min(width, height) <= limits.max_short_side:
        return None
    scale = limits.max_short_side / min(width, height)
    return max(2, round(height * scale / 2) * 2), max(2, round(width * scale / 2) * 2)


def _head(source: bytes | Path) -> bytes:
    if isinstance(source, bytes):
        return source[:SNIFF_BYTES]
    try:
        with open(source, "rb") as f:
            return f.read(SNIFF_BYTES)
    except OSError as e:
        raise DecodeError(f"{source} does not exist" if not source.exists() else f"cannot read {source}: {e}") from e


def _errors(decoder: str) -> tuple[type[Exception], ...]:
    """What a decoder raises for a video it cannot read (decord's own error is no RuntimeError)."""
    kinds: tuple[type[Exception], ...] = (RuntimeError, ValueError, OSError, IndexError)
    if decoder == "decord":
        import decord

        kinds += (decord.DECORDError,)
    return kinds


def _reason(e: Exception, source: bytes | Path | None) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    if isinstance(source, Path) and not source.is_file():
        return f"{source} does not exist"
    return text
