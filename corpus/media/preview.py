"""Contact sheets: a few frames of a clip side by side, as one small JPEG, made by ffmpeg. The
viewer shows one per clip, the report one per example, and a clip that a filter drops keeps one
in rejects/ (its file is gone after that). A sheet may be drawn from a corpus made elsewhere, so
its first bytes are checked as a download's are, and ffmpeg gets the same demuxer whitelist: a
member that is an HLS playlist would have ffmpeg draw whatever local file it names."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from corpus.errors import StepError
from manifests.containers import FFMPEG_DEMUXERS, not_a_video
from manifests.pictures import FFMPEG_PICTURE_DEMUXERS, SNIFF_BYTES, picture_format

FRAMES = 4  # frames across a sheet


def contact_sheet(source: str, head: bytes, duration_s: float | None, height: int = 90, image: bool = False,
                  protocols: str = "file") -> bytes:
    """JPEG bytes of FRAMES frames spread over the clip at `source` (a path, or an ffmpeg URL of
    one of `protocols`) whose first bytes are `head`, each `height` px high; an image is shown
    alone. A source that is not a video container (or picture) vmae reads is a StepError."""
    if image:
        fmt = picture_format(head[:SNIFF_BYTES])
        if fmt is None:
            raise StepError("not_image", "the member is not a picture format vmae decodes")
        demuxer = ["-f", FFMPEG_PICTURE_DEMUXERS[fmt]]
        chain = f"scale=-2:{height}"
    else:
        if refused := not_a_video(head):
            raise StepError("not_video", refused)
        demuxer = ["-format_whitelist", FFMPEG_DEMUXERS]
        rate = FRAMES / max(duration_s or 1.0, 0.1)
        chain = f"fps={rate:.6f},scale=-2:{height},tile={FRAMES}x1"
    with tempfile.TemporaryDirectory(prefix="vmae-sheet-") as tmp:
        out = Path(tmp) / "sheet.jpg"
        cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-protocol_whitelist", protocols, *demuxer, "-i",
               source,
               "-vf", chain, "-frames:v", "1", "-q:v", "5", "-f", "image2", "-c:v", "mjpeg", str(out)]
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=60, check=False)
        except subprocess.TimeoutExpired:
            raise StepError("corrupt", "ffmpeg took over 60 s to draw a contact sheet") from None
        if done.returncode != 0 or not out.is_file():
            tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no frame"]
            raise StepError("corrupt", f"no contact sheet: {tail[0]}")
        return out.read_bytes()
