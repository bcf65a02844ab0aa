"""Memory bombs of a few kilobytes cost a bounded amount of memory: each test runs the crafted input
through vmae in a child process under an address-space limit, so a bomb that comes back fails the
test instead of the machine."""

import shutil
import struct

import ffmpeg
import pytest

from corpus.synthetic import make_video
from tests.hostile.limits import run_limited


def claiming(path, seconds: int):
    """A copy of a real MP4 whose movie and track headers claim `seconds` (a time scale of 1)."""
    data = bytearray(path.read_bytes())
    for box in (b"mvhd", b"mdhd"):
        at = data.index(box) + 4
        assert data[at] == 0  # version 0: 32-bit fields
        struct.pack_into(">II", data, at + 12, 1, seconds)
    return bytes(data)


def test_a_header_claiming_four_billion_seconds_fails_its_row(tmp_path, videos):
    films = tmp_path / "films"
    films.mkdir()
    (films / "liar.mp4").write_bytes(claiming(videos / "a.mp4", 4_000_000_000))
    shutil.copy(videos / "a.mp4", films / "honest.mp4")
    done = run_limited(f"""
from corpus.build import build
from corpus.config import configure_build
build(configure_build({{"source": "movies", "inputs": [{str(films)!r}], "out": {str(tmp_path / "c")!r},
                       "clip_seconds": 1, "short_side": 64, "preset": "ultrafast"}}), progress=False)
""", limit_gb=3)
    assert done.returncode == 0, done.stderr[-3000:]
    import pandas as pd

    rows = pd.read_parquet(tmp_path / "c" / "videos").set_index("video_id")
    assert rows.loc["liar", "error_kind"] == "too_long" and "4,000,000,000 s" in rows.loc["liar", "error"]
    assert rows.loc["honest", "status"] == "ok"


@pytest.fixture(scope="module")
def huge(tmp_path_factory):
    """About 200 KB of H.264 whose frames are 8192 x 8192: 200 MB each once decoded."""
    path = tmp_path_factory.mktemp("huge") / "huge.mp4"
    (ffmpeg.input("color=black:s=8192x8192:r=4", f="lavfi", t=2)
     .output(str(path), vcodec="libx264", preset="ultrafast", pix_fmt="yuv420p").run(quiet=True))
    return path


def test_huge_frames_are_scaled_inside_the_decoder_for_predict_and_training(tmp_path, huge, videos):
    small = make_video(tmp_path / "small.mp4", pattern="testsrc2", seconds=2, width=96, height=64, fps=4)
    done = run_limited(f"""
import io, tarfile, torch
from pathlib import Path
from trainer.checkpoint import model_record
from trainer.data.config import DataConfig
from trainer.data.stream import PretrainStream
from trainer.eval.predict import predict_files
from trainer.models.registry import create_classifier

torch.save(model_record(create_classifier("vit_test", 3, frames=4, img_size=32), "vit_test"), "{tmp_path}/c.pt")
files = [Path("{huge}"), Path("{small}"), Path("{videos / 'a.mp4'}")]
out = list(predict_files(files, "{tmp_path}/c.pt", clips=2, crops=1))
assert [len(o.get("top", [])) for o in out] == [3, 3, 3], out

with tarfile.open("{tmp_path}/s.tar", "w") as tar:
    info = tarfile.TarInfo("k.mp4")
    info.size = Path("{huge}").stat().st_size
    tar.addfile(info, open("{huge}", "rb"))
item = next(iter(PretrainStream(["{tmp_path}/s.tar"], DataConfig(frames=4, stride=1, img_size=32, workers=0))))
assert tuple(item["video"].shape) == (3, 4, 32, 32), item["video"].shape
print("ok")
""", limit_gb=6)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-3000:]


def sparse_bomb(name: str, realsize: int = 1 << 30) -> bytes:
    """A GNU sparse member that stores nothing and expands to `realsize` zero bytes."""
    h = bytearray(512)
    h[:len(name)] = name.encode()
    h[100:148] = b"0000644\x000000000\x000000000\x0000000000000\x0000000000000\x00"
    h[156:157], h[257:265] = b"S", b"ustar  \x00"
    h[386:410] = b"%011o\x00" % realsize + b"00000000000\x00"  # one map entry: no data at the end
    h[483:495] = b"%011o\x00" % realsize
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\x00 " % sum(h)
    return bytes(h)


def test_a_shard_of_sparse_members_claiming_a_gib_each_is_read_in_bounded_memory(tmp_path, videos):
    import io
    import tarfile

    real = io.BytesIO()
    with tarfile.open(fileobj=real, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for key in ("r0", "r1"):
            data = (videos / "a.mp4").read_bytes()
            info = tarfile.TarInfo(f"{key}.mp4")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    shard = tmp_path / "bomb.tar"
    shard.write_bytes(b"".join(sparse_bomb(f"b{k}.mp4") for k in range(8)) + real.getvalue())
    done = run_limited(f"""
from trainer.data.config import DataConfig
from trainer.data.stream import PretrainStream
from trainer.data.tars import Refused
items = PretrainStream([{str(shard)!r}], DataConfig(frames=4, stride=2, img_size=32, workers=0, shuffle_buffer=4))
got = [item for item, _ in zip(items, range(2))]
assert len(got) == 2 and Refused.count >= 8, (len(got), Refused.count)
print("ok")
""", limit_gb=5)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-3000:]
    assert "a sparse member claiming 1,073,741,824 bytes" in done.stderr
    assert "skipping the rest of a shard" not in done.stderr  # read past the bombs, no MemoryError
