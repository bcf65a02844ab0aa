"""The images source: image-text lists and annotation folders become one-frame .jpg samples. The
images are made with Pillow and served on 127.0.0.1; what is wrong with one fails its row with a
clear kind, and dedup finds exact and resized copies among images."""

import io
import json
import os
import signal
import struct
import subprocess
import sys
import tarfile
import time
import zlib

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from corpus.dedup.run import dedup
from corpus.localserve import serve_folder
from corpus.mix.run import MixOptions, mix
from manifests.validate import validate
from tests.helpers import build_corpus, check_corpus
from tests.hostile.limits import image_build_growth


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG start claiming width x height, with a few kilobytes of (all-zero) rows."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = zlib.compress(b"\x00" * (1 + 3 * width) * 4)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", rows) + chunk(b"IEND", b""))


def photo(width=400, height=300) -> Image.Image:
    """A picture with structure at several scales (gradients, a disc, stripes)."""
    y, x = np.mgrid[0:height, 0:width]
    r = (x * 255 // width).astype(np.uint8)
    g = (((x // 25 + y // 25) % 2) * 180 + 40).astype(np.uint8)
    b = np.where((x - width * 0.6) ** 2 + (y - height * 0.4) ** 2 < (height * 0.25) ** 2, 230, 60).astype(np.uint8)
    return Image.fromarray(np.stack([r, g, b], -1))


@pytest.fixture(scope="module")
def image_server(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    photo().save(d / "photo.jpg", quality=92)
    (d / "copy.jpg").write_bytes((d / "photo.jpg").read_bytes())  # the same file under another URL
    photo().resize((200, 150), Image.Resampling.LANCZOS).save(d / "small_copy.jpg", quality=80)
    alpha = Image.new("RGBA", (200, 160), (0, 0, 0, 0))
    alpha.paste((20, 120, 20, 255), (50, 40, 150, 120))
    alpha.save(d / "alpha.png")
    frames = [Image.new("P", (160, 120), c) for c in (0, 1)]
    frames[0].putpalette([220, 0, 0, 0, 0, 220] + [0] * 762)
    frames[1].putpalette([220, 0, 0, 0, 0, 220] + [0] * 762)
    frames[0].save(d / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    photo(320, 240).rotate(180).convert("CMYK").save(d / "cmyk.jpg")  # turned: not a copy of the photo
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display: stored landscape, shown portrait
    photo(400, 200).save(d / "rotated.jpg", exif=exif.tobytes())
    Image.fromarray((np.arange(200 * 150).reshape(150, 200) * 2).astype(np.uint16)).save(d / "gray16.png")
    (d / "page.jpg").write_text("<!DOCTYPE html><html><body>Image not found</body></html>")
    data = (d / "photo.jpg").read_bytes()
    (d / "truncated.jpg").write_bytes(data[: len(data) // 2])
    Image.new("RGB", (20, 20), "white").save(d / "tiny.png")
    (d / "bomb.png").write_bytes(png_header_only(8500, 8500))  # 72M pixels: 217 MB once decoded
    with serve_folder(d) as base:
        yield base, d


ROWS = [("photo.jpg", "a photo"), ("copy.jpg", "the same photo"), ("small_copy.jpg", "a smaller copy"),
        ("alpha.png", "a green box"), ("anim.gif", "a red frame"), ("cmyk.jpg", "printed colours"),
        ("rotated.jpg", "a portrait"), ("gray16.png", "a 16-bit ramp"), ("page.jpg", "an error page"),
        ("truncated.jpg", "half a photo"), ("tiny.png", "an icon"), ("missing.jpg", "gone"), ("bomb.png", "a bomb")]


def cc3m_list(tmp_path, base) -> str:
    tsv = tmp_path / "Train_GCC-training.tsv"  # CC3M's layout: caption<TAB>url, no header
    tsv.write_text("".join(f"{caption}\t{base}/{name}\n" for name, caption in ROWS))
    return tsv


def samples(root) -> dict[str, dict[str, bytes]]:
    out: dict[str, dict[str, bytes]] = {}
    for tar in sorted((root / "tars").glob("*.tar")):
        with tarfile.open(tar) as t:
            for m in t.getmembers():
                key, ext = m.name.split(".", 1)
                out.setdefault(key, {})[ext] = t.extractfile(m).read()
    return out


def test_image_text_list_every_row_accounted_for(tmp_path, image_server):
    base, _ = image_server
    build_corpus(tmp_path / "cc", "images", [cc3m_list(tmp_path, base)], clip={"short_side": 96},
                 image={"max_pixels": 50_000_000})
    videos = pd.read_parquet(tmp_path / "cc" / "videos").set_index("caption")
    kinds = videos["error_kind"].fillna("ok").to_dict()
    assert kinds == {"a photo": "ok", "the same photo": "ok", "a smaller copy": "ok", "a green box": "ok",
                     "a red frame": "ok", "printed colours": "ok", "a portrait": "ok", "a 16-bit ramp": "ok",
                     "an error page": "not_image", "half a photo": "corrupt", "an icon": "too_small",
                     "gone": "not_found", "a bomb": "too_large"}
    assert "HTML" in videos.loc["an error page", "error"] and "before decoding" in videos.loc["a bomb", "error"]
    clips = check_corpus(tmp_path / "cc").set_index("caption")
    assert (clips["media"] == "image").all() and (clips["frames"] == 1).all()
    got = samples(tmp_path / "cc")
    pictures = {}
    for caption, key in clips["clip_key"].items():
        s = got[key]
        assert set(s) == {"jpg", "json", "txt"} and s["txt"].decode() == caption
        assert json.loads(s["json"])["media"] == "image"
        pictures[caption] = Image.open(io.BytesIO(s["jpg"]))
        assert pictures[caption].mode == "RGB" and min(pictures[caption].size) == 96
    assert pictures["a portrait"].size == (96, 192)  # EXIF orientation applied
    assert pictures["a photo"].size == (128, 96)
    corner = np.asarray(pictures["a green box"])[2, 2]
    assert (corner > 240).all()  # transparency onto white
    red = np.asarray(pictures["a red frame"]).reshape(-1, 3).mean(0)
    assert red[0] > 180 and red[2] < 60  # the first frame of the animation
    ramp = np.asarray(pictures["a 16-bit ramp"].convert("L"))
    assert ramp.max() > 150 and ramp.min() < 20  # scaled to 8 bits, not clipped to white


def test_dedup_finds_exact_and_resized_copies_of_an_image(tmp_path, image_server):
    base, folder = image_server
    tsv = tmp_path / "cc12m.tsv"  # CC12M's layout: url<TAB>caption
    tsv.write_text("".join(f"{base}/{n}\t{c}\n" for n, c in ROWS[:3] + ROWS[3:8]))
    build_corpus(tmp_path / "c", "images", [tsv], clip={"short_side": 96})
    (result,) = dedup([tmp_path / "c"])
    d = pd.read_parquet(tmp_path / "c" / "dedup")
    clips = pd.read_parquet(tmp_path / "c" / "clips").set_index("clip_key")
    d["caption"] = clips.loc[d["clip_key"], "caption"].to_numpy()
    dropped = d[~d["keep"]].set_index("caption")["reason"].to_dict()
    # one of the two identical files is kept (over the smaller copy: its original is larger)
    assert dropped.pop("a smaller copy") == "near" and list(dropped.values()) == ["exact"]
    assert set(dropped) < {"a photo", "the same photo"} and result.dropped == {"exact": 1, "near": 1}
    # an evaluation set holding a rotated picture's resized copy: the training copy is a leak
    small = tmp_path / "rotated_small.jpg"
    with Image.open(folder / "rotated.jpg") as original:
        original.resize((200, 100)).save(small, exif=original.getexif())
    (tmp_path / "eval.json").write_text(json.dumps([{"image": small.name, "caption": "held out"}]))
    build_corpus(tmp_path / "eval", "images", [tmp_path / "eval.json"], clip={"short_side": 96})
    dedup([tmp_path / "c"], against=[tmp_path / "eval"])
    d = pd.read_parquet(tmp_path / "c" / "dedup")
    leaked = clips.loc[d.loc[d["reason"] == "leak_near", "clip_key"], "caption"]
    assert list(leaked) == ["a portrait"]


def test_coco_captions_folder_gathers_captions_per_image(tmp_path, image_server):
    _, folder = image_server
    coco = {"images": [{"id": 1, "file_name": "photo.jpg"}, {"id": 2, "file_name": "alpha.png"},
                       {"id": 3, "file_name": "../../etc/passwd"}],
            "annotations": [{"image_id": 1, "caption": f"photo caption {k}"} for k in range(5)]
            + [{"image_id": 2, "caption": "a box"}, {"image_id": 9, "caption": "no such image"}]}
    ann = tmp_path / "captions_val2017.json"
    ann.write_text(json.dumps(coco))
    build_corpus(tmp_path / "coco", "images", [ann], source_options={"images": str(folder)}, clip={"short_side": 96})
    videos = pd.read_parquet(tmp_path / "coco" / "videos").sort_values("row")
    assert list(videos["status"]) == ["ok", "ok", "failed"] and "outside the images folder" in videos["error"].iloc[2]
    clips = check_corpus(tmp_path / "coco").set_index("video_id")
    assert list(clips.loc["photo", "captions"]) == [f"photo caption {k}" for k in range(5)]
    assert (clips["split"] == "val").all()


def test_a_pixel_bomb_is_refused_before_it_is_decoded(tmp_path, image_server):
    base, _ = image_server
    # In a child: decoding the bomb would raise the peak by 217 MB; the address-space limit keeps a
    # regression from hurting the machine.
    row, grown_mb = image_build_growth(tmp_path, f"a photo\t{base}/photo.jpg\n", f"a bomb\t{base}/bomb.png\n", 3,
                                       image={"max_pixels": 50_000_000})
    assert row["error_kind"] == "too_large" and grown_mb < 50


def test_umt_recipe_mixes_captioned_videos_and_images(tmp_path, image_server, server):
    base, _ = image_server
    urls = tmp_path / "webvid.csv"  # WebVid's own columns
    urls.write_text(f"videoid,contentUrl,name\n1,{server}/a.mp4,colour bars\n2,{server}/c.mp4,a game of life\n")
    build_corpus(tmp_path / "webvid", "web", [urls])
    tsv = tmp_path / "cc3m.tsv"
    tsv.write_text("".join(f"{c}\t{base}/{n}\n" for n, c in ROWS[:2] + ROWS[3:5]))
    build_corpus(tmp_path / "cc3m", "images", [tsv], clip={"short_side": 96})
    summary = mix(MixOptions(recipe="umt_5m", inputs={"webvid2m": str(tmp_path / "webvid"),
                                                      "cc3m": str(tmp_path / "cc3m")},
                             out=str(tmp_path / "umt"), scale=1e-6), progress=False)
    assert summary["mix"]["webvid2m"]["selected"] == 2 and summary["mix"]["cc3m"]["selected"] == 3
    assert validate(tmp_path / "umt").ok
    clips = pd.read_parquet(tmp_path / "umt" / "clips").set_index("clip_key")
    got = samples(tmp_path / "umt")
    for key, s in got.items():  # the trainer tells images from videos by the member alone
        media = "image" if "jpg" in s else "video"
        assert clips.loc[key, "media"] == media and s["txt"].decode() == clips.loc[key, "caption"]
    assert sorted(clips["media"]) == ["image"] * 3 + ["video"] * 2


def test_an_image_build_killed_resumes_and_ray_builds_the_same(tmp_path, image_server):
    pytest.importorskip("ray", reason="Ray is an extra: pip install 'vmae[ray]' (make test installs it)")
    from tests.helpers import snapshot

    base, _ = image_server
    tsv = tmp_path / "list.tsv"  # 48 distinct URLs, a few of them bad
    tsv.write_text("".join(f"{c} {k}\t{base}/{n}?copy={k}\n" for k in range(4) for n, c in ROWS[:12]))

    def command(out: str, executor: str = "local") -> list[str]:
        return [sys.executable, "-m", "cli.main", "corpus", "build", "--source", "images", "--input", str(tsv),
                "--out", str(tmp_path / out), "--workers", "2", "--executor", executor, "--unit-size", "3",
                "--short-side", "96", "--shard-bytes", "100KB", "--retries", "0", "--no-progress"]

    subprocess.run(command("reference"), check=True, capture_output=True)
    for delay in (1.5, 2.5):  # killed at several moments, then resumed
        proc = subprocess.Popen(command("killed"), start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    subprocess.run(command("killed"), check=True, capture_output=True)
    reference = snapshot(tmp_path / "reference")
    assert snapshot(tmp_path / "killed") == reference and validate(tmp_path / "killed").ok
    assert len(reference["clips"]) == 4 * 8 and len(reference["videos"]) == 48
    ray = subprocess.run(command("ray", "ray"), capture_output=True, text=True)
    assert ray.returncode == 0, ray.stderr[-2000:]
    assert snapshot(tmp_path / "ray") == reference
