"""Text from tables reaches the terminal inert: an error kind or a video id holding OSC sequences
(retitle the terminal, write its clipboard with OSC 52, a lying link with OSC 8) or a line break
is printed as escapes."""

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cli.common import shown
from manifests.generations import current
from manifests.schemas import TABLES, with_version
from manifests.tables import part_files

VMAE = Path(sys.executable).with_name("vmae")
OSC = "\x1b]52;c;ZXZpbA==\x07\x1b]8;;http://127.0.0.1/\x1b\\link\x1b]8;;\x1b\\\x1b]0;owned\x07\nforged line\u202e"


def test_status_prints_error_kinds_as_escapes(viewed_corpus, tmp_path):
    root = tmp_path / "c"
    shutil.copytree(viewed_corpus, root)
    for part in part_files(current(root / "videos")):
        rows = pd.read_parquet(part)
        rows.loc[rows["status"] == "failed", "error_kind"] = "corrupt" + OSC
        pq.write_table(pa.Table.from_pandas(rows, schema=with_version(TABLES["videos"], "videos"),
                                            preserve_index=False), part)
    done = subprocess.run([str(VMAE), "corpus", "status", str(root)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout and "\u202e" not in done.stdout
    assert "corrupt\\x1b]52;c;ZXZpbA==\\x07" in done.stdout and "\\x0aforged line\\u202e=1" in done.stdout


def test_shown_keeps_printable_text_and_escapes_the_rest():
    assert shown("a dog, ünïcode 漢字 ✓") == "a dog, ünïcode 漢字 ✓"
    assert shown("a\tb\rc\x9bd\x7f") == "a\\x09b\\x0dc\\x9bd\\x7f"
