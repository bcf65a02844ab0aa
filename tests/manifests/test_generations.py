"""Table folders as generations: many files change in one switch, and a kill -9 at any moment
leaves the old table or the new one whole, never a mix."""

import os
import random
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from manifests import generations as generations_module
from manifests.generations import ensure, generations, new_generation
from manifests.tables import write_part
from tests.manifests.helpers import rows


def test_a_new_table_is_a_link_to_its_first_generation_and_switches_whole(tmp_path, monkeypatch):
    write_part(tmp_path / "videos" / "part-u0.parquet", "videos", rows(3))
    assert (tmp_path / "videos").is_symlink() and (tmp_path / "videos").resolve().name == "g000000"
    first = (tmp_path / "videos").resolve()
    with new_generation(tmp_path / "videos") as folder:
        pd.DataFrame(rows(5)).to_parquet(folder / "part-c0.parquet")
        assert len(pd.read_parquet(tmp_path / "videos")) == 3  # readers see the old table until the switch
    assert len(pd.read_parquet(tmp_path / "videos")) == 5
    assert len(pd.read_parquet(first)) == 3  # kept whole for a reader that resolved the link before
    with pytest.raises(RuntimeError), new_generation(tmp_path / "videos") as folder:
        pd.DataFrame(rows(1)).to_parquet(folder / "part-c0.parquet")
        raise RuntimeError("the writer failed")
    assert len(pd.read_parquet(tmp_path / "videos")) == 5 and first.exists()  # still within its grace period
    monkeypatch.setattr(generations_module, "GRACE_S", 0.0)
    with new_generation(tmp_path / "videos") as folder:  # past the grace period: the next switch removes it
        pd.DataFrame(rows(2)).to_parquet(folder / "part-c0.parquet")
    assert not first.exists() and len(generations(tmp_path / "videos")) == 2


def test_a_plain_folder_from_before_is_converted_and_a_lost_link_repaired(tmp_path):
    (tmp_path / "clips").mkdir()
    pd.DataFrame(rows(2)).to_parquet(tmp_path / "clips" / "part-u0.parquet")
    with new_generation(tmp_path / "clips") as folder:
        pd.DataFrame(rows(4)).to_parquet(folder / "part-c0.parquet")
    assert (tmp_path / "clips").is_symlink() and len(pd.read_parquet(tmp_path / "clips")) == 4
    (tmp_path / "clips").unlink()  # as a kill -9 between the conversion's two renames leaves it
    ensure(tmp_path / "clips")
    assert len(pd.read_parquet(tmp_path / "clips")) == 4


CHILD = """
import sys, pandas as pd
from pathlib import Path
from manifests.generations import new_generation
from tests.manifests.helpers import rows
folder = Path(sys.argv[1])
while True:  # rewrite the same 600 rows as 1, 3 or 6 files, forever
    for files in (1, 3, 6):
        with new_generation(folder) as g:
            for k in range(files):
                pd.DataFrame(rows(600 // files, k * (600 // files))).to_parquet(g / f"part-{k}.parquet")
"""


@pytest.mark.slow
def test_kill_9_at_any_moment_of_switching_leaves_the_table_whole(tmp_path):
    write_part(tmp_path / "videos" / "part-u0.parquet", "videos", rows(600))
    rng = random.Random(0)
    for _ in range(12):
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "videos")], cwd=os.getcwd())
        time.sleep(rng.uniform(1.0, 2.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        table = pd.read_parquet(ensure(tmp_path / "videos"))
        assert sorted(table["row"]) == list(range(600))  # every row once, whatever the moment
    generations_module.GRACE_S = 0.0  # the next writer clears what the kills left, past their grace
    try:
        with new_generation(tmp_path / "videos") as g:
            pd.DataFrame(rows(600)).to_parquet(g / "part-0.parquet")
    finally:
        generations_module.GRACE_S = 600.0
    names = [p.name for p in (tmp_path / ".tables" / "videos").iterdir()]
    assert (tmp_path / "videos").resolve().name in names and len(names) == 2  # the current one and the last
