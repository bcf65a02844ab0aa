"""Child Pythons never import from the folder the user runs vmae in. `python -c` (how spawned
multiprocessing workers start) and `python -m` put the current folder first on sys.path, so a
`multiprocessing.py` or a `corpus/` folder in an unpacked dataset or a cloned list repository
would be imported by every worker. Python 3.11's PYTHONSAFEPATH keeps it off, for every child
Python this process starts from now on (pool workers, spawned DataLoader workers, torchrun's)."""

from __future__ import annotations

import os


def keep_current_folder_off_child_paths() -> None:
    os.environ["PYTHONSAFEPATH"] = "1"
