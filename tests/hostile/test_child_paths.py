"""Worker processes never import from the folder the user runs vmae in: an unpacked dataset or a
cloned list repository may hold a `multiprocessing.py`, a `pyarrow.py` or a `corpus/` folder.
Each planted module leaves a mark when imported; a build run from that folder with the local
process pool and with Ray must leave none."""

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

VMAE = Path(sys.executable).with_name("vmae")
PLANTED = ("multiprocessing.py", "pyarrow.py", "corpus/__init__.py", "numpy.py")


@pytest.fixture
def hostile_folder(tmp_path, videos):
    """A folder holding two videos and modules that shadow what workers import."""
    folder = tmp_path / "dataset"
    (folder / "films").mkdir(parents=True)
    for name in ("a.mp4", "c.mp4"):
        shutil.copy(videos / name, folder / "films" / name)
    for planted in PLANTED:
        path = folder / planted
        path.parent.mkdir(exist_ok=True)
        path.write_text("import os\nopen(os.path.abspath(__file__) + '.imported', 'w').close()\n"
                        "raise ImportError('the planted module ran')\n")
    return folder


def build_from(folder: Path, executor: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(VMAE), "corpus", "build", "--source", "movies", "--input", "films", "--out",
                           "corpus-out", "--workers", "2", "--executor", executor, "--unit-size", "1",
                           "--clip-seconds", "1", "--short-side", "64", "--preset", "ultrafast", "--no-progress"],
                          cwd=folder, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("executor", ["local", pytest.param("ray", marks=pytest.mark.skipif(
    __import__("importlib").util.find_spec("ray") is None, reason="Ray is an extra: pip install 'vmae[ray]'"))])
def test_workers_import_nothing_from_the_current_folder(hostile_folder, executor):
    done = build_from(hostile_folder, executor)
    marks = sorted(str(p.relative_to(hostile_folder)) for p in hostile_folder.rglob("*.imported"))
    assert marks == [], f"imported from the user's folder: {marks}\n{done.stderr[-2000:]}"
    assert done.returncode == 0, done.stderr[-2000:]
    rows = pd.read_parquet(hostile_folder / "corpus-out" / "videos")
    assert sorted(rows.status) == ["ok", "ok"]
