"""Parquet tables and lists from strangers: a dictionary-encoded column that names one 4 MiB
caption 2,000 times fits in 6 KB of file and decodes to 8.4 GB. Every command that reads a table
whole refuses it in one line naming the part, under an address-space limit; a list whose cells
arrive as arrays has the same caps as one whose cells arrive as text."""

import json
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from manifests.generations import current
from manifests.schemas import TABLES, with_version
from manifests.tables import part_files
from tests.helpers import build_corpus

VMAE = Path(sys.executable).with_name("vmae")


def bomb(path: Path, name: str, column: str, rows: int = 2000, value_bytes: int = 4 << 20) -> None:
    """A part of table `name` whose `column` names one value of `value_bytes` in every row."""
    schema = with_version(TABLES[name], name)
    fields = [pa.field(column, pa.dictionary(pa.int32(), pa.string())) if f.name == column else f for f in schema]
    data = {f.name: pa.nulls(rows, f.type) for f in schema}
    data[column] = pa.DictionaryArray.from_arrays(pa.array([0] * rows, pa.int32()), pa.array(["x" * value_bytes]))
    pq.write_table(pa.Table.from_pydict(data, schema=pa.schema(fields, metadata=schema.metadata)), path,
                   compression="zstd")


@pytest.fixture(scope="module")
def bombed(viewed_corpus, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bombed") / "c"
    shutil.copytree(viewed_corpus, root)
    folder = current(root / "videos")
    for part in part_files(folder):
        part.unlink()
    # a column every command here reads (they no longer read videos' captions, so a bomb there is
    # never decoded at all)
    bomb(folder / "part-0.parquet", "videos", "error_kind")
    assert (folder / "part-0.parquet").stat().st_size < 16_000
    return root


@pytest.mark.parametrize("command", [["corpus", "status"], ["manifests", "validate"], ["corpus", "report"],
                                     ["corpus", "view", "--port", "0", "--no-browser"]])
def test_a_table_that_decodes_to_gigabytes_is_refused_in_one_line(bombed, tmp_path, command):
    limit = 3 * 1024**3

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    args = [str(VMAE), *command, str(bombed)] + (["--out", str(tmp_path / "r.png")] if "report" in command else [])
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, preexec_fn=cap)
    said = done.stderr.strip().splitlines()
    if "validate" in command:  # validate lists what it found wrong, one line each, and exits 1
        assert done.returncode == 1 and len(said) == 2, done.stderr[-2000:]
    else:
        assert done.returncode == 2 and len(said) == 1, done.stderr[-2000:]
    assert "part-0.parquet: column 'error_kind' of row group 0 would decode to 8,388,608,000 bytes" in said[-1]


def test_a_parquet_list_that_decodes_to_gigabytes_is_refused(tmp_path):
    from corpus.errors import InputError

    lst = tmp_path / "list.parquet"
    bomb_list = pa.table({"url": pa.DictionaryArray.from_arrays(pa.array([0] * 2000, pa.int32()),
                                                                pa.array(["http://127.0.0.1/" + "x" * (4 << 20)]))})
    pq.write_table(bomb_list, lst, compression="zstd")
    with pytest.raises(InputError, match="would decode to"):
        build_corpus(tmp_path / "c", "web", [lst], plan_only=True)


def test_panda70m_cells_as_arrays_have_the_caps_of_cells_as_text(tmp_path):
    spans = [[f"0:00:{i % 60:02d}.000", f"0:00:{i % 60:02d}.500"] for i in range(150_000)]
    lines = [{"videoID": "huge", "url": "http://127.0.0.1:9/huge.mp4", "timestamp": spans,
              "caption": ["a caption"] * len(spans)},
             {"videoID": "fine", "url": "http://127.0.0.1:9/fine.mp4", "timestamp": [["0:00:00.000", "0:00:01.000"]],
              "caption": ["a dog"]}]
    (tmp_path / "panda.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    build_corpus(tmp_path / "p", "panda70m", [tmp_path / "panda.jsonl"], plan_only=True)
    videos = pd.read_parquet(tmp_path / "p" / "videos").set_index("video_id")
    assert len(videos) == 2 and videos.loc["fine", "status"] == "pending"
    assert videos.loc["huge", "error_kind"] == "bad_row" and "characters as JSON (at most 1,000,000)" in videos.loc[
        "huge", "error"]
