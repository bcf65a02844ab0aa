"""Shard tars: written member by member without tarfile's per-member objects, yet the very bytes
tarfile writes for them, and readable by it."""

import io
import tarfile

from corpus.shard_writer import write_tar
from manifests.sample import label_text, meta_json


def test_shard_tars_are_the_bytes_tarfile_writes_and_read_back_with_it(tmp_path):
    clips = [{"clip_key": f"web_v{i}_000000000_000001000", "bytes": n, "label_id": i % 2, "row": i}
             for i, n in enumerate([0, 1, 511, 512, 513, 70_000])]
    videos = {c["clip_key"]: bytes(range(256)) * (c["bytes"] // 256) + bytes(c["bytes"] % 256) for c in clips}
    written = write_tar(tmp_path / "ours.tar", clips, True, lambda c: (io.BytesIO(videos[c["clip_key"]]), c["bytes"]))
    expected = io.BytesIO()
    with tarfile.open(fileobj=expected, mode="w|", format=tarfile.USTAR_FORMAT) as tar:
        for c in clips:
            members = (("mp4", videos[c["clip_key"]]), ("json", meta_json(c)), ("cls", label_text(c["label_id"])))
            for ext, data in members:
                info = tarfile.TarInfo(f"{c['clip_key']}.{ext}")
                info.size, info.mode, info.mtime = len(data), 0o444, 0
                tar.addfile(info, io.BytesIO(data))
    assert (tmp_path / "ours.tar").read_bytes() == expected.getvalue() and written["bytes"] == len(expected.getvalue())
    with tarfile.open(tmp_path / "ours.tar") as tar:
        assert tar.extractfile("web_v5_000000000_000001000.mp4").read() == videos["web_v5_000000000_000001000"]
