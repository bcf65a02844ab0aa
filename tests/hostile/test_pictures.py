"""Pictures from image-text lists are whatever a stranger's URL answered. Only the formats such
lists hold are decoded, told from the bytes (an EPS would run Ghostscript, a FITS file a
pure-Python GZIP decoder); a JPEG that repeats a scan thousands of times is refused before it is
decoded; a large transparent PNG costs about its decoded size, not four copies of it."""

import io
import struct
import zlib

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from corpus.localserve import serve_folder
from tests.helpers import build_corpus
from tests.hostile.limits import image_build_growth

EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 640 480\n0 0 moveto 640 480 lineto stroke\nshowpage\n%%EOF\n"
FITS = (b"SIMPLE  =                    T" + b" " * 50 + b"BITPIX  =                    8" + b" " * 49
        + b"NAXIS   =                    2" + b" " * 49 + b"NAXIS1  =                  640" + b" " * 49
        + b"NAXIS2  =                  480" + b" " * 49 + b"END" + b" " * 77).ljust(2880, b" ") + bytes(640 * 480)


def scans_of(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each scan of a JPEG: its SOS segment and the entropy-coded data after it."""
    found, at = [], 2
    while data[at + 1] != 0xD9:
        end = at + 2 + int.from_bytes(data[at + 2:at + 4], "big")
        if data[at + 1] == 0xDA:  # data runs to the next marker that is not a stuffed 0xFF or a restart
            while not (data[end] == 0xFF and data[end + 1] not in (0x00, *range(0xD0, 0xD8))):
                end += 1
            found.append((at, end))
        at = end
    return found


def scan_bomb(repeats: int) -> bytes:
    """A real progressive JPEG whose smallest scan is repeated `repeats` more times."""
    ramp = np.add.outer(np.arange(1024), np.arange(1024)).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(ramp).save(buffer, "JPEG", progressive=True, quality=90)
    data = buffer.getvalue()
    start, end = min(scans_of(data), key=lambda s: s[1] - s[0])
    return data[:end] + data[start:end] * repeats + data[end:]


def transparent_png(side: int) -> bytes:
    """side x side RGBA of zeros: a few hundred KB that decode to side² x 4 bytes."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    packer, row = zlib.compressobj(9), b"\x00" * (1 + 4 * side)
    rows = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", rows) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    d = tmp_path_factory.mktemp("pictures")
    Image.new("RGB", (320, 240), (200, 40, 40)).save(d / "photo.jpg")
    (d / "drawing.jpg").write_bytes(EPS)
    (d / "sky.png").write_bytes(FITS)
    (d / "scans.jpg").write_bytes(scan_bomb(300))
    (d / "clear.png").write_bytes(transparent_png(8192))
    with serve_folder(d) as base:
        yield base, d


def test_only_the_formats_of_image_lists_are_decoded_and_a_scan_bomb_is_refused(tmp_path, pictures, monkeypatch):
    base, _ = pictures
    ghost = tmp_path / "bin"
    ghost.mkdir()
    (ghost / "gs").write_text(f"#!/bin/sh\ntouch {tmp_path}/ghostscript-ran\nexit 1\n")
    (ghost / "gs").chmod(0o755)
    monkeypatch.setenv("PATH", f"{ghost}:{__import__('os').environ['PATH']}")
    rows = [("a photo", "photo.jpg"), ("a drawing", "drawing.jpg"), ("the sky", "sky.png"), ("scans", "scans.jpg")]
    (tmp_path / "list.tsv").write_text("".join(f"{c}\t{base}/{n}\n" for c, n in rows))
    build_corpus(tmp_path / "c", "images", [tmp_path / "list.tsv"])
    got = pd.read_parquet(tmp_path / "c" / "videos").set_index("caption")
    assert got["error_kind"].fillna("ok").to_dict() == {"a photo": "ok", "a drawing": "not_image",
                                                        "the sky": "not_image", "scans": "too_large"}
    assert "PostScript/EPS" in got.loc["a drawing", "error"] and "JPEG, PNG, GIF, WEBP, BMP, TIFF" in got.loc[
        "a drawing", "error"]
    assert "FITS" in got.loc["the sky", "error"]
    assert "of 306 scans (over 100)" in got.loc["scans", "error"]  # 6 of the encoder, 300 repeated
    assert not (tmp_path / "ghostscript-ran").exists()


def test_a_large_transparent_png_costs_about_its_decoded_size(tmp_path, pictures):
    base, _ = pictures
    clip, grown_mb = image_build_growth(tmp_path, f"a photo\t{base}/photo.jpg\n", f"clear\t{base}/clear.png\n", 5)
    decoded_mb = 8192 * 8192 * 4 // 2**20  # 256
    assert clip["width"] == "96" and grown_mb < decoded_mb * 1.5, grown_mb  # 295 MB here; 1,280 MB before


def test_training_decodes_picture_members_by_the_same_rule():
    from trainer.data.captioned import decode_image
    from trainer.data.decode import DecodeError

    for member, why in ((EPS, "PostScript/EPS"), (FITS, "FITS"), (scan_bomb(150), "scans (over 100)")):
        with pytest.raises(DecodeError, match=why.replace("(", r"\(").replace(")", r"\)")):
            decode_image(member, 8192 * 8192)
    from manifests.pictures import jpeg_scans

    assert jpeg_scans([b"\x00\xff", b"\xda\x00\xff\xda", b"\xff"]) == 2  # a marker split between pieces counts
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "white").save(buffer, "PNG")
    assert decode_image(buffer.getvalue(), 8192 * 8192).shape == (1, 30, 40, 3)
