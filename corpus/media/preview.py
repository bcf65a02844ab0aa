"""Contact sheets: a few frames of a clip side by side, as one small JPEG, made by ffmpeg. The
viewer shows one per clip, the report one per example, and a clip that a filter drops keeps one
in rejects/ (its file is gone after that)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from corpus.errors import StepError

FRAMES = 4  # frames across a sheet


def contact_sheet(source: str, duration_s: float | None, height: int = 90, image: bool = False,
                  protocols: str = "file") -> bytes:
    """JPEG bytes of FRAMES frames spread over the clip at `source` (a path, or an ffmpeg URL of
    one of `protocols`), each `height` px high; an image is shown alone."""
    if image:
        chain = f"scale=-2:{height}"
    else:
        rate = FRAMES / max(duration_s or 1.0, 0.1)
        chain = f"fps={rate:.6f},scale=-2:{height},tile={FRAMES}x1"
    with tempfile.TemporaryDirectory(prefix="vmae-sheet-") as tmp:
        out = Path(tmp) / "sheet.jpg"
        cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-protocol_whitelist", protocols, "-i", source,
               "-vf", chain, "-frames:v", "1", "-q:v", "5", "-f", "image2", "-c:v", "mjpeg", str(out)]
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=60, check=False)
        except subprocess.TimeoutExpired:
            raise StepError("corrupt", "ffmpeg took over 60 s to draw a contact sheet") from None
        if done.returncode != 0 or not out.is_file():
            tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no frame"]
            raise StepError("corrupt", f"no contact sheet: {tail[0]}")
        return out.read_bytes()
