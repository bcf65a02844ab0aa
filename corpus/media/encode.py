"""One ffmpeg pass per clip: an exact cut re-encoded to H.264, and in the same decode the
small grayscale frames its signature is computed from and the few larger ones its quality
signals are measured on."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from corpus.errors import MachineFault, StepError, fault_in_message
from corpus.media.motion import motion_score
from corpus.media.probe import SAFE_INPUT
from corpus.media.quality import detail_size, quality_signals
from corpus.media.signature import SAMPLE_FPS, SAMPLE_SIDE, area_resize, frames_from_raw, signatures
from manifests.schemas import SIGNATURE_HASHES


def target_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """Scale so the short side is `short_side` (never up), both sides even for yuv420p."""
    scale = min(1.0, short_side / min(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


@dataclass(frozen=True)
class Encoding:
    """How a clip is encoded: the clip step's settings and the shared media ones."""

    short_side: int
    fps: float | None  # None keeps the source's
    crf: int
    preset: str
    keep_audio: bool
    gop: int | None = None  # frames between keyframes; None: x264's own choice
    fast_decode: bool = False  # x264's fastdecode tune


@dataclass
class EncodedClip:
    path: Path
    signature: list[int]
    signature_views: list[int]
    signature_masked: list[int]
    duration_s: float
    fps: float
    frames: int
    width: int
    height: int
    bytes: int
    sha256: str
    motion: float
    quality: dict[str, float]  # sharpness, frozen, bars, overlay


def encode_clip(src: str, start: float, length: float, dest: Path, info: dict, opts: Encoding) -> EncodedClip:
    """Cut [start, start+length) of src (seconds in the file) into dest."""
    width, height = target_size(info["width"], info["height"], opts.short_side)
    # -ss before -i seeks to the keyframe before `start`, then decodes and drops frames up to it:
    # exact cuts at keyframe-seek speed (we always re-encode).
    # One decoder and one encoder thread: with more, the same cut now and then encoded to other
    # bytes (decoder: 2 of 8 runs of one cut; x264: 5 of 401 demo clips). Builds run one ffmpeg
    # per worker, so the cores stay busy anyway.
    inp = ffmpeg.input(src, ss=f"{start:.3f}", t=f"{length:.3f}", threads=1, **SAFE_INPUT)
    video = inp.video
    if opts.fps:
        # round=up: the stored frame at time t is the source frame on screen at t (the default,
        # near, keeps one from up to half a stored frame later: a 30 fps source at 7.5 kept
        # frames 1, 5, 9, … where stride 4 reads 0, 4, 8, …)
        video = video.filter("fps", fps=opts.fps, round="up")
    split = video.filter_multi_output("split")
    main = split[0].filter("scale", width, height).filter("setsar", 1)
    # The sampled frames come 144 px high (quality signals); the signature's 64x64 ones are
    # scaled down from them here. One pipe: a second output file failed silently on a full disk.
    detail_w, detail_h = detail_size(info["width"], info["height"])
    # At least three frames per hash window, whatever the clip's length.
    sig_rate = max(SAMPLE_FPS, 3 * SIGNATURE_HASHES / max(length, 1e-3))
    sig = (split[1].filter("fps", fps=f"{sig_rate:.6f}").filter("scale", detail_w, detail_h, flags="area")
           .filter("format", "gray"))
    streams = [main]
    audio_args = {"an": None}
    if opts.keep_audio and info.get("has_audio"):
        streams.append(inp.audio)
        audio_args = {"acodec": "aac", "audio_bitrate": "96k"}
    # passthrough: the muxer must not duplicate frames to keep a constant rate (it did, by one
    # frame now and then, depending on when the signature branch delivered its frames).
    x264 = {"g": opts.gop} if opts.gop else {}
    if opts.fast_decode:
        x264["tune"] = "fastdecode"
    clip_out = ffmpeg.output(*streams, str(dest), vcodec="libx264", pix_fmt="yuv420p", preset=opts.preset,
                             crf=opts.crf, movflags="+faststart", fps_mode="passthrough", threads=1, **x264,
                             **audio_args)
    sig_out = ffmpeg.output(sig, "pipe:", format="rawvideo", pix_fmt="gray")
    # -progress reports the frames written to the first output (the clip), which saves probing it.
    cmd = ffmpeg.merge_outputs(clip_out, sig_out).global_args(
        "-nostdin", "-loglevel", "error", "-nostats", "-progress", "pipe:2").overwrite_output()
    try:
        raw, report = cmd.run(capture_stdout=True, capture_stderr=True)
    except ffmpeg.Error as e:
        message = (e.stderr or b"").decode("utf-8", "replace")
        fault = fault_in_message(message, str(dest.parent))
        if fault is None and not dest.parent.is_dir():
            fault = MachineFault("the folder being written vanished", str(dest.parent))
        if fault is not None:  # the machine, not the video: no row fails for it
            raise fault from e
        tail = message.strip().splitlines()[-1:] or ["ffmpeg failed"]
        raise StepError("corrupt", f"ffmpeg could not cut [{start:.3f}, {start + length:.3f}]: {tail[0]}") from e
    if not dest.is_file() or dest.stat().st_size == 0 or not raw:
        raise StepError("corrupt", f"ffmpeg produced no frames for [{start:.3f}, {start + length:.3f}]")
    frames = _frames_written(report)
    fps = opts.fps or info["fps"]
    data = dest.read_bytes()
    detail = frames_from_raw(raw, detail_w, detail_h)
    sampled = area_resize(detail, SAMPLE_SIDE, SAMPLE_SIDE)  # the signature's frames also tell the motion
    return EncodedClip(dest, *signatures(sampled), frames / fps, fps, frames, width, height, len(data),
                       hashlib.sha256(data).hexdigest(), motion_score(sampled, sig_rate),
                       quality_signals(sampled, detail))


def _frames_written(progress: bytes) -> int:
    """The last 'frame=N' of ffmpeg's -progress report."""
    frames = [line for line in progress.decode("utf-8", "replace").splitlines() if line.startswith("frame=")]
    if not frames:
        raise StepError("corrupt", "ffmpeg wrote no progress report for the clip")
    return int(frames[-1].partition("=")[2].strip() or 0)

