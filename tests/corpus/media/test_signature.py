"""Signatures: re-encodes of one video are close, different videos are far."""

import ffmpeg
import numpy as np
import pandas as pd
from PIL import Image

from corpus.media.signature import CROPS, MASKS, TIME_SHIFTS, crop, phash, signatures, windowed_means
from corpus.synthetic import make_video
from manifests.schemas import SIGNATURE_MASKS, SIGNATURE_VIEWS
from tests.helpers import build_corpus


def test_phash_is_stable_and_brightness_invariant_in_the_low_band():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 200, size=(3, 32, 32)).astype(np.uint8)
    assert (phash(frames) == phash(frames.copy())).all()
    brighter = np.clip(frames.astype(int) + 20, 0, 255).astype(np.uint8)
    assert sum(int(a ^ b).bit_count() for a, b in zip(phash(frames), phash(brighter), strict=True)) <= 6


def test_windows_give_a_fixed_count():
    assert len(windowed_means(np.zeros((3, 32, 32)), 8)) == 8
    assert len(windowed_means(np.zeros((20, 32, 32)), 8)) == 8


def test_a_picture_hashes_once_and_like_the_same_picture_held_still():
    rng = np.random.default_rng(5)
    picture = np.kron(rng.integers(0, 255, (8, 8)), np.ones((8, 8))).astype(np.uint8)[None]
    picture[:, :6] = 0  # a bar for the trim
    held = signatures(np.concatenate([picture, picture]))  # a still clip: every window is the picture
    assert signatures(picture) == held
    main, views, masked = signatures(picture)
    assert len(main) == 8 and len(set(main)) == 1 and len(views) == 8 * SIGNATURE_VIEWS


def test_views_and_masks_fill_their_columns_and_a_corner_crop_hashes_like_its_view():
    rng = np.random.default_rng(3)
    # a smooth moving picture: low frequencies that a crop moves
    frames = np.stack([np.kron(rng.integers(0, 255, (8, 8)), np.ones((8, 8))) for _ in range(24)]).astype(np.uint8)
    main, views, masked = signatures(frames)
    assert len(views) == 8 * SIGNATURE_VIEWS == 8 * (len(CROPS) + len(TIME_SHIFTS))
    assert len(masked) == 8 * SIGNATURE_MASKS == 8 * len(MASKS)
    corner = CROPS.index((0.9, 0.9, 1, 1))
    cropped = crop(frames, 0.9, 0.9, 1, 1)  # the bottom-right 90%, as a re-upload would be
    resized = np.stack([np.asarray(Image.fromarray(f).resize((64, 64))) for f in cropped])
    copy_main, _, _ = signatures(resized)
    view = views[8 * corner : 8 * corner + 8]
    assert hamming(copy_main, view) < hamming(copy_main, main) and hamming(copy_main, view) <= 40


def hamming(a, b) -> int:
    return int(np.bitwise_count(np.asarray(a, np.uint64) ^ np.asarray(b, np.uint64)).sum())


def test_reencoded_copies_are_close_and_other_videos_far(tmp_path):
    src = tmp_path / "src"
    make_video(src / "orig.mp4", pattern="testsrc2", seconds=3, width=320, height=240)
    # a re-upload: smaller, much lower quality, other codec settings
    ffmpeg.input(str(src / "orig.mp4")).output(str(src / "lowq.mp4"), vf="scale=200:150", crf=40,
                                               preset="veryslow", vcodec="libx264").run(quiet=True)
    make_video(src / "other.mp4", pattern="mandelbrot", seconds=3, width=320, height=240)
    build_corpus(tmp_path / "c", "movies", [src], clip={"clip_seconds": 3})
    sig = pd.read_parquet(tmp_path / "c" / "clips").set_index("video_id")["signature"].map(list)
    assert hamming(sig["orig"], sig["lowq"]) < 40  # of 512 bits
    assert hamming(sig["orig"], sig["other"]) > 150
