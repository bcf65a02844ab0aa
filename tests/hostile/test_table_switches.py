"""Readers during a table switch see the old table or the new one: a writer that switches a
table's generation over and over never makes vmae's reader fail or come back empty (old
generations are kept while a reader may still be in them), and a plain pandas read through the
link either gets every row once or fails loudly, never a silent mix of two generations."""

import os
import subprocess
import sys
import time

import pandas as pd
import pytest

from manifests.tables import read_table, write_part
from tests.manifests.helpers import rows

CHILD = """
import sys
from pathlib import Path
from corpus.compact import write_table
from manifests.layout import CorpusLayout
from manifests.tables import to_table
from tests.manifests.helpers import rows
layout = CorpusLayout.at(Path(sys.argv[1]))
table = to_table("videos", rows(600))
while True:  # the same 600 rows, as a compacted table and then split into units, forever
    write_table(layout, "videos", table)
    write_table(layout, "videos", table.set_column(table.schema.get_field_index("unit"), "unit",
                                                   [[f"u{r % 7}" for r in range(600)]]), split={"u1", "u2", "u3"})
"""


@pytest.mark.timeout(120)
def test_reads_during_switches_never_fail_nor_come_back_empty(tmp_path):
    write_part(tmp_path / "videos" / "part-c000000.parquet", "videos", rows(600))
    writer = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], cwd=os.getcwd())
    ours, pandas_mixed, pandas_failed = [], 0, 0
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(ours) < 1500:
            try:
                ours.append(read_table(tmp_path, "videos", required=False).num_rows)
            except Exception as e:  # noqa: BLE001 - any failure of our reader is what this test counts
                ours.append(repr(e))
            try:
                got = sorted(pd.read_parquet(tmp_path / "videos", columns=["row"])["row"])
                pandas_mixed += got != list(range(600))
            except (OSError, ValueError):
                pandas_failed += 1
    finally:
        writer.kill()
        writer.wait()
    assert len(ours) > 300
    assert all(n == 600 for n in ours), [n for n in ours if n != 600][:5]
    assert pandas_mixed == 0, f"{pandas_mixed} pandas reads silently saw a mix of two generations"
