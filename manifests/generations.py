"""Table folders as generations, so that changing many files of a table at once is atomic.

DIR/videos (and clips, shards, dedup) is a relative symbolic link to the table's current
generation, DIR/.tables/videos/gNNNNNN. Inside a generation one part is replaced at a time by an
atomic rename (a unit finishing). A change to many parts at once (merging parts into a few large
files, splitting units out again) writes a whole new generation beside the current one and
switches the link with one rename. A reader of DIR/videos (pandas, pyarrow) sees the old table or
the new one, never a mix, and a kill -9 at any moment leaves one of them whole.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

STORE = ".tables"
_GEN = re.compile(r"^g(\d{6})$")


def _store(folder: Path) -> Path:
    return folder.parent / STORE / folder.name


def generations(folder: Path) -> list[Path]:
    """Whole generations of the table at `folder` (DIR/name), oldest first."""
    store = _store(folder)
    found = [p for p in store.iterdir() if _GEN.match(p.name)] if store.is_dir() else []
    return sorted(found, key=lambda p: p.name)


def _link(folder: Path, target: Path) -> None:
    """Point `folder` at `target` with one rename (replacing an older link atomically)."""
    tmp = folder.parent / f".{folder.name}.{uuid.uuid4().hex[:8]}.link"
    os.symlink(os.path.relpath(target, folder.parent), tmp)
    os.replace(tmp, folder)


def ensure(folder: Path) -> Path:
    """The table folder, made a link to a first generation when it does not exist yet. A link
    lost between two renames (a kill -9 while converting an older corpus) points again at the
    newest whole generation, which is the one that was being switched to."""
    folder = Path(folder)
    if folder.is_dir():
        return folder
    if folder.is_symlink():  # dangling: its generation is gone
        folder.unlink()
    found = generations(folder)
    target = found[-1] if found else _store(folder) / "g000000"
    target.mkdir(parents=True, exist_ok=True)
    _link(folder, target)
    return folder


def _clear_leftovers(folder: Path) -> None:
    """Generations and temporary folders a killed switch left beside the current one."""
    store = _store(folder)
    current = folder.resolve() if folder.is_symlink() else None
    for p in store.iterdir() if store.is_dir() else []:
        if p.is_dir() and p.resolve() != current:
            shutil.rmtree(p, ignore_errors=True)


@contextlib.contextmanager
def new_generation(folder: Path) -> Iterator[Path]:
    """Yields an empty folder for the table's next generation. When the block ends without an
    error, that folder becomes the table in one switch and the old generation is removed; on an
    error, nothing changes."""
    folder = ensure(Path(folder))
    _clear_leftovers(folder)
    store = _store(folder)
    store.mkdir(parents=True, exist_ok=True)
    numbers = [int(_GEN.match(p.name).group(1)) for p in generations(folder)]
    final = store / f"g{max(numbers, default=-1) + 2:06d}"  # leaves a number for an older plain folder
    tmp = store / f".{final.name}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.mkdir()
    try:
        yield tmp
        os.rename(tmp, final)
        if folder.is_symlink():
            old = folder.resolve()
            _link(folder, final)
        else:  # a plain folder from before generations: keep it as the previous generation, then link
            old = store / f"g{int(final.name[1:]) - 1:06d}"
            os.rename(folder, old)
            _link(folder, final)  # a kill -9 between these two renames is repaired by ensure()
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
