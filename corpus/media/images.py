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
from PIL import Image, ImageFile, UnidentifiedImageError

from corpus.errors import StepError
from corpus.media.signature import SAMPLE_SIDE, signatures
from manifests.pictures import SNIFF_BYTES, picture_format, refused_picture_file


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


@dataclass(frozen=True)
class ImageEncoding:
    """How an image is checked and stored: the image step's settings and the shared media ones."""

    short_side: int
    min_side: int  # smaller images fail as too_small
    max_pixels: int  # larger ones fail as too_large, before they are decoded
    quality: int  # JPEG quality


def _open(path: str, opts: ImageEncoding) -> Image.Image:
    """The image with its header read and checked; nothing decoded yet. Its format is decided from
    its bytes, and Pillow is given that one plugin (manifests/pictures.py)."""
    with open(path, "rb") as f:
        fmt = picture_format(f.read(SNIFF_BYTES))
    refused = refused_picture_file(path)
    if fmt is None:
        raise StepError("not_image", f"the file is {refused}")
    if refused:
        raise StepError("too_large", refused)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path, formats=[fmt])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise StepError("too_large", f"a decompression bomb: {e}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise StepError("corrupt", f"the {fmt} header is malformed: {e}") from None
    w, h = img.size
    if w * h > opts.max_pixels:
        raise StepError("too_large", f"{w}x{h} pixels, over the cap of {opts.max_pixels:,} (--max-pixels): "
                        "refused before decoding")
    if min(w, h) < opts.min_side:
        raise StepError("too_small", f"{w}x{h}: the short side is under {opts.min_side} px (--min-side)")
    return img


# EXIF orientations (tag 0x0112) and the turn that shows the picture upright
_UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
            5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}
STRIP_ROWS = 256  # rows made RGB at a time while a large picture is reduced


def _rgb(img: Image.Image, gray_scale: float) -> Image.Image:
    """8-bit RGB whatever the mode: transparency goes onto white (not black, as a plain convert
    would), CMYK is converted, 16- and 32-bit gray is scaled by `gray_scale` rather than clipped."""
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        img = img.point(lambda v: v * gray_scale).convert("L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "RGB" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def _gray_scale(img: Image.Image) -> float:
    """How a 16- or 32-bit gray picture is brought to 8 bits: one scale for the whole picture."""
    if img.mode.startswith("I;16"):
        return 1 / 256
    return 1 / 256 if img.mode == "I" and img.getextrema()[1] > 255 else 1.0


def _reduced_rgb(img: Image.Image, out_w: int, out_h: int) -> Image.Image:
    """The decoded picture as RGB, shrunk by a whole factor that keeps it at least twice the
    target (the final resize does the rest). A large picture is made RGB a strip at a time, so
    the peak stays near its decoded size: an 8192² RGBA picture composited onto white whole
    needed four full-size copies."""
    scale = _gray_scale(img)
    factor = max(1, min(img.width // (2 * out_w), img.height // (2 * out_h)))
    if factor == 1:
        return _rgb(img, scale)
    rows = STRIP_ROWS // factor * factor or factor
    small = Image.new("RGB", (img.width // factor, img.height // factor))
    for top in range(0, small.height * factor, rows):
        strip = img.crop((0, top, small.width * factor, min(top + rows, small.height * factor)))
        small.paste(_rgb(strip, scale).reduce(factor), (0, top // factor))
    return small
def _target(width: int, height: int, short_side: int) -> tuple[int, int]:
    scale = min(1.0, short_side / min(width, height))  # never upscaled
    return max(1, round(width * scale)), max(1, round(height * scale))


def store_image(src: str, dest: Path, opts: ImageEncoding) -> StoredImage:
    """Decode `src`, resize its short side to `opts.short_side`, write it to `dest` as JPEG."""
    img = _open(src, opts)
    fmt, frames, (w, h) = img.format or "unknown", getattr(img, "n_frames", 1), img.size
    try:
        img.seek(0)  # an animated image: its first frame
        turn = _UPRIGHT.get(img.getexif().get(0x0112, 1))
        sideways = turn in (Image.Transpose.TRANSPOSE, Image.Transpose.ROTATE_270, Image.Transpose.TRANSVERSE,
                            Image.Transpose.ROTATE_90)
        out_w, out_h = _target(*((h, w) if sideways else (w, h)), opts.short_side)
        stored_w, stored_h = (out_h, out_w) if sideways else (out_w, out_h)  # the target before the turn
        if fmt == "JPEG":  # decode at 1/2, 1/4 or 1/8 scale when that still covers the target
            img.draft("RGB", (stored_w, stored_h))
        img.load()
        img = _reduced_rgb(img, stored_w, stored_h)
        if img.size != (stored_w, stored_h):
            img = img.resize((stored_w, stored_h), Image.Resampling.LANCZOS, reducing_gap=3.0)
        if turn is not None:
            img = img.transpose(turn)
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
