"""Images as samples: decode with Pillow, refuse what is not a usable image, normalize and resize
to the corpus' short side, store as JPEG, and hash like a one-frame clip.

What arrives from image-text lists is whatever a URL answered: HTML pages, truncated files,
palette GIFs, CMYK JPEGs, 16-bit PNGs, phone photos that rely on EXIF orientation, and images
whose header claims more pixels than a machine holds. The header is read first (Pillow opens
lazily) and the pixel cap is applied before anything is decoded; JPEGs are decoded at a reduced
scale when the target is much smaller (Pillow's draft mode), which is most of the speed."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from corpus.errors import StepError
from corpus.media.signature import SAMPLE_SIDE, signatures
from corpus.options import ImageOptions

_MARKUP = (b"<!doctype", b"<html", b"<?xml", b"<head", b"<body", b"{", b"<svg")


@dataclass
class StoredImage:
    path: Path
    width: int  # as stored (after orientation and resizing)
    height: int
    source_width: int  # as the file had it
    source_height: int
    format: str  # JPEG, PNG, GIF, WEBP, ...
    frames: int  # an animated image's frame count (the first is kept)
    bytes: int
    sha256: str
    signature: list[int]
    signature_views: list[int]
    signature_masked: list[int]


def _open(path: str, opts: ImageOptions) -> Image.Image:
    """The image with its header read and checked; nothing decoded yet."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise StepError("too_large", f"a decompression bomb: {e}") from None
    except UnidentifiedImageError:
        with open(path, "rb") as f:
            head = f.read(512).lstrip().lower()
        what = "an HTML or text page" if head.startswith(_MARKUP) else "not an image Pillow can read"
        raise StepError("not_image", f"the file is {what} (first bytes {head[:24]!r})") from None
    w, h = img.size
    if w * h > opts.max_pixels:
        raise StepError("too_large", f"{w}x{h} pixels, over the cap of {opts.max_pixels:,} (--max-pixels): "
                        "refused before decoding")
    if min(w, h) < opts.min_side:
        raise StepError("too_small", f"{w}x{h}: the short side is under {opts.min_side} px (--min-side)")
    return img


def _rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB whatever the mode: transparency goes onto white (not black, as a plain convert
    would), CMYK is converted, 16- and 32-bit gray is scaled down rather than clipped."""
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        scale = 1 / 256 if img.mode.startswith("I;16") or np.asarray(img).max() > 255 else 1
        img = img.point(lambda v: v * scale).convert("L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "RGB" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def _target(width: int, height: int, short_side: int) -> tuple[int, int]:
    scale = min(1.0, short_side / min(width, height))  # never upscaled
    return max(1, round(width * scale)), max(1, round(height * scale))


def store_image(src: str, dest: Path, opts: ImageOptions, short_side: int) -> StoredImage:
    """Decode `src`, resize its short side to `short_side`, write it to `dest` as JPEG."""
    img = _open(src, opts)
    fmt, frames, (w, h) = img.format or "unknown", getattr(img, "n_frames", 1), img.size
    try:
        img.seek(0)  # an animated image: its first frame
        exif_turn = img.getexif().get(0x0112, 1) in (5, 6, 7, 8)  # orientations that swap the sides
        out_w, out_h = _target(*((h, w) if exif_turn else (w, h)), short_side)
        if fmt == "JPEG":  # decode at 1/2, 1/4 or 1/8 scale when that still covers the target
            img.draft("RGB", (out_h, out_w) if exif_turn else (out_w, out_h))
        img = ImageOps.exif_transpose(img)
        img = _rgb(img)
        if img.size != (out_w, out_h):
            img = img.resize((out_w, out_h), Image.Resampling.LANCZOS, reducing_gap=3.0)
    except OSError as e:  # Pillow says "image file is truncated", "broken data stream", ...
        raise StepError("corrupt", f"the {fmt} data is damaged or truncated: {e}") from None
    except (ValueError, SyntaxError, EOFError) as e:
        raise StepError("corrupt", f"the {fmt} file is malformed: {e}") from None
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=opts.quality, optimize=False)
    data = buffer.getvalue()
    dest.write_bytes(data)
    gray = np.asarray(img.convert("L").resize((SAMPLE_SIDE, SAMPLE_SIDE), Image.Resampling.BOX))
    return StoredImage(dest, img.width, img.height, w, h, fmt, frames, len(data), hashlib.sha256(data).hexdigest(),
                       *signatures(gray[None]))


# A truncated file fails (as corrupt) instead of being padded with gray by Pillow.
ImageFile.LOAD_TRUNCATED_IMAGES = False
