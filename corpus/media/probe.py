"""ffprobe of a fetched file: duration, frame rate, displayed size, codec, audio. A file that is
not in a video container vmae reads (an HTML page, a playlist) raises StepError('not_video');
empty, truncated or undecodable ones StepError('corrupt')."""

from __future__ import annotations

import os

import ffmpeg

from corpus.errors import StepError
from manifests.containers import FFMPEG_DEMUXERS, SNIFF_BYTES, not_a_video

# Every ffmpeg/ffprobe input: a local file in one of the containers vmae reads, whose demuxer
# opens nothing else (see manifests/containers.py)
SAFE_INPUT = {"format_whitelist": FFMPEG_DEMUXERS, "protocol_whitelist": "file"}


def _rate(text: str | None) -> float | None:
    if not text or text in ("0/0", "0"):
        return None
    num, _, den = text.partition("/")
    try:
        value = float(num) / float(den or 1)
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None


def _rotation(stream: dict) -> int:
    for side in stream.get("side_data_list") or []:
        if "rotation" in side:
            return abs(int(float(side["rotation"]))) % 180
    return abs(int(float((stream.get("tags") or {}).get("rotate", 0)))) % 180


def probe_file(path: str) -> dict:
    """Duration, frame rate, size (as displayed, i.e. after rotation), codec and audio presence."""
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        raise StepError("corrupt", f"{path} is empty")
    with open(path, "rb") as f:
        refused = not_a_video(f.read(SNIFF_BYTES))
    if refused:
        raise StepError("not_video", refused)
    try:
        info = ffmpeg.probe(path, **SAFE_INPUT)
    except ffmpeg.Error as e:
        tail = (e.stderr or b"").decode("utf-8", "replace").strip().splitlines()[-1:] or ["ffprobe failed"]
        raise StepError("corrupt", f"ffprobe cannot read the file: {tail[0]}") from e
    videos = [s for s in info.get("streams", []) if s.get("codec_type") == "video"
              and not (s.get("disposition") or {}).get("attached_pic")]
    if not videos:
        raise StepError("corrupt", "the file has no video stream")
    v = videos[0]
    duration = float(info.get("format", {}).get("duration") or v.get("duration") or 0)
    fps = _rate(v.get("avg_frame_rate")) or _rate(v.get("r_frame_rate"))
    width, height = int(v.get("width") or 0), int(v.get("height") or 0)
    if duration <= 0 or not fps or not width or not height:
        raise StepError("corrupt", f"unusable video stream (duration {duration}, fps {fps}, {width}x{height})")
    if _rotation(v) == 90:
        width, height = height, width
    return {"duration_s": duration, "fps": fps, "width": width, "height": height,
            "codec": v.get("codec_name"), "has_audio": any(s.get("codec_type") == "audio"
                                                           for s in info.get("streams", []))}
