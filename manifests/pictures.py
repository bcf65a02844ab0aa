"""The picture formats vmae decodes, told from a file's first bytes before Pillow sees it.
Pillow knows dozens of formats, and some are dangerous to open: EPS hands the file to Ghostscript,
FITS runs a pure-Python GZIP decoder (a few hundred KB cost minutes and gigabytes). Image-text
lists hold JPEG, PNG, GIF, WebP, BMP and TIFF; everything else is refused unopened, and Pillow is
told which one plugin to use."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from pathlib import Path

from manifests.containers import describe

PICTURE_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")  # Pillow's names
SNIFF_BYTES = 16
# ffmpeg's demuxer for each (contact sheets name it, so ffmpeg probes nothing else)
FFMPEG_PICTURE_DEMUXERS = {"JPEG": "jpeg_pipe", "PNG": "png_pipe", "GIF": "gif", "WEBP": "webp_pipe",
                           "BMP": "bmp_pipe", "TIFF": "tiff_pipe"}
# A progressive JPEG decodes its whole picture once per scan: encoders write about 10 (libjpeg's
# default script) to 20; a crafted file repeats one scan thousands of times, for minutes of work.
MAX_JPEG_SCANS = 100


def picture_format(head: bytes) -> str | None:
    """The Pillow format of a file starting with `head`, or None when it is none vmae decodes."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WEBP"
    if head.startswith(b"BM"):
        return "BMP"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "TIFF"
    return None


def jpeg_scans(chunks: Iterable[bytes]) -> int:
    """How many scans (SOS markers) a JPEG given in pieces holds: 0xFF 0xDA cannot occur inside
    entropy-coded data (a 0xFF there is followed by 0x00 or a restart marker), so counting the
    pair counts scans, plus those of an embedded thumbnail. A pair split between pieces counts."""
    scans, last = 0, b""
    for chunk in chunks:
        scans += (last + chunk).count(b"\xff\xda")
        last = chunk[-1:]
    return scans


def refused_picture(data: bytes) -> str | None:
    """Why a picture whose bytes are `data` is refused before decoding, or None."""
    return _verdict(data[:512], lambda: jpeg_scans([data]))


def refused_picture_file(path: str | Path) -> str | None:
    """refused_picture for a file, read in pieces (a download may be gigabytes)."""
    with open(path, "rb") as f:
        head = f.read(512)
        return _verdict(head, lambda: jpeg_scans(itertools.chain([head], iter(lambda: f.read(1 << 20), b""))))


def _verdict(head: bytes, count_scans: Callable[[], int]) -> str | None:
    fmt = picture_format(head[:SNIFF_BYTES])
    if fmt is None:
        return _unknown(head)
    if fmt == "JPEG" and (scans := count_scans()) > MAX_JPEG_SCANS:
        return (f"a JPEG of {scans:,} scans (over {MAX_JPEG_SCANS}): each scan decodes the whole picture again, "
                "so a crafted file costs minutes")
    return None


def _unknown(head: bytes) -> str:
    text = head.lstrip().lower()
    if text.startswith(b"%!ps") or text.startswith(b"\xc5\xd0\xd3\xc6"):
        what = "PostScript/EPS"
    elif text.startswith(b"simple  ="):
        what = "FITS"
    elif text.startswith(b"<svg"):
        what = "an SVG drawing"
    else:
        what = describe(head)  # as a download that is not a video is described
    return f"not a picture format vmae decodes: it is {what}. vmae reads {', '.join(PICTURE_FORMATS)} only"
