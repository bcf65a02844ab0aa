"""Shards copied from elsewhere are checked member by member: mix copies a video only when its
bytes are the ones its clips/ row describes (size and sha256), `vmae manifests validate` finds a
swapped member even when shards/ was updated to match, and damaged tars (cut short, links, names
that are not UTF-8, sizes that are not numbers) are one clear error, never a traceback."""

import hashlib
import io
import shutil
import tarfile

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from manifests.tables import write_part
from manifests.validate import validate

runner = CliRunner()


def copy_of(corpus, where):
    shutil.copytree(corpus, where, symlinks=True)
    return where


def restamp_shards(corpus):
    """Make shards/ agree with the tars as they now are (as someone covering a change would)."""
    rows = pd.read_parquet(corpus / "shards").to_dict("records")
    for r in rows:
        data = (corpus / r["shard"]).read_bytes()
        r.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    for part in (corpus / "shards").glob("part-*.parquet"):
        part.unlink()
    write_part(corpus / "shards" / "part-c000000.parquet", "shards", rows)


def swap_two_videos(tar_path):
    """The first two .mp4 members of a tar exchange their bytes (names and order kept)."""
    with tarfile.open(tar_path) as tar:
        entries = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    videos = [i for i, (m, _) in enumerate(entries) if m.name.endswith(".mp4")][:2]
    a, b = (entries[i][1] for i in videos)
    entries[videos[0]], entries[videos[1]] = (entries[videos[0]][0], b), (entries[videos[1]][0], a)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for m, data in entries:
            m.size = len(data)
            tar.addfile(m, io.BytesIO(data))
    tar_path.write_bytes(out.getvalue())


def mix_argv(corpus, out, recipe):
    return ["corpus", "mix", "--recipe", str(recipe), "--input", f"m={corpus}", "--out", str(out), "--workers", "1",
            "--no-progress"]


@pytest.fixture()
def recipe(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("sources:\n  m: {quota: 6}\n")
    return path


def test_a_swapped_member_is_refused_by_mix_and_found_by_validate(tmp_path, tiny_unlabeled, recipe):
    corpus = copy_of(tiny_unlabeled, tmp_path / "c")
    tar = next(p for p in sorted((corpus / "tars").glob("*.tar"))
               if sum(n.endswith(".mp4") for n in tarfile.open(p).getnames()) >= 2)
    swap_two_videos(tar)
    restamp_shards(corpus)
    report = validate(corpus)
    assert any("videos whose bytes or sha256 differ from their clips/ row (2)" in p for p in report.problems), \
        report.problems
    r = runner.invoke(app, mix_argv(corpus, tmp_path / "mix", recipe))
    assert r.exit_code == 2 and "is not the clip its clips/ row describes" in r.output, r.output


@pytest.mark.parametrize("damage", ["cut short", "a link", "a name that is not UTF-8", "a size that is not a number"])
def test_damaged_tars_are_clear_errors_in_mix_and_validate(tmp_path, tiny_unlabeled, recipe, damage):
    corpus = copy_of(tiny_unlabeled, tmp_path / "c")
    tar = sorted((corpus / "tars").glob("*.tar"))[0]
    data = bytearray(tar.read_bytes())
    first = tarfile.open(tar).getmembers()[0]  # the first clip's video
    if damage == "cut short":
        data = data[:first.offset_data + 100]
    elif damage == "a link":
        data[156:157] = b"2"  # a symbolic link where the video was
    elif damage == "a name that is not UTF-8":
        data[0:1] = b"\xff"
    else:
        data[124:136] = b"12345678z90\0"
    if damage in ("a link", "a name that is not UTF-8"):  # keep the header's checksum right
        data[148:156] = b" " * 8
        data[148:156] = b"%06o\x00 " % sum(data[:512])
    tar.write_bytes(bytes(data))
    report = validate(corpus)
    assert not report.ok and all(len(p.splitlines()) == 1 for p in report.problems)
    r = runner.invoke(app, mix_argv(corpus, tmp_path / "mix", recipe))
    assert r.exit_code == 2 and "Traceback" not in r.output and tar.name in r.output, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)


def test_clips_rows_without_bytes_are_a_finding_not_a_traceback(tmp_path, tiny_unlabeled):
    corpus = copy_of(tiny_unlabeled, tmp_path / "c")
    rows = pd.read_parquet(corpus / "clips").to_dict("records")
    rows[0]["bytes"] = None
    for old in (corpus / "clips").rglob("*.parquet"):
        old.unlink()
    write_part(corpus / "clips" / "part-x.parquet", "clips", rows)
    report = validate(corpus)
    assert f"clips without bytes or sha256 (1): {rows[0]['clip_key']}" in "\n".join(report.problems), report.problems
