"""Table folders as generations, so that changing many files of a table at once is atomic.

DIR/videos (and clips, shards, dedup) is a relative symbolic link to the table's current
generation, DIR/.tables/videos/gNNNNNN. Inside a generation one part is replaced at a time by an
atomic rename (a unit finishing). A change to many parts at once (merging parts into a few large
files, splitting units out again) writes a whole new generation beside the current one and
switches the link with one rename. The old generation stays on disk for GRACE_S after the switch,
so a reader that resolved the link just before (vmae's readers resolve it once, then read inside
the generation) reads the old table whole; the next switch after that removes it. A kill -9 at any
moment leaves one of them whole. Chunk files carry a name of their generation's own, so a plain
pandas read whose listing and opening straddle a switch fails loudly instead of mixing the two.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

STORE = ".tables"
GRACE_S = 600.0  # how long a superseded generation is kept for readers that may still be in it
_GEN = re.compile(r"^g(\d{6})$")


def _store(folder: Path) -> Path:
    return folder.parent / STORE / folder.name


def current(folder: Path) -> Path:
    """The generation the table's link points at now (the folder itself for a plain one): a reader
    lists and reads inside it, so a switch meanwhile cannot change what it reads."""
    return Path(folder).resolve()


def generations(folder: Path) -> list[Path]:
    """Whole generations of the table at `folder` (DIR/name), oldest first."""
    store = _store(folder)
    found = [p for p in store.iterdir() if _GEN.match(p.name)] if store.is_dir() else []
    return sorted(found, key=lambda p: p.name)


def _link(folder: Path, target: Path) -> None:
    """Point `folder` at `target` with one rename (replacing an older link atomically)."""
    tmp = folder.parent / f".{folder.name}.{uuid.uuid4().hex[:8]}.link"
    os.symlink(os.path.relpath(target, folder.parent), tmp)
    try:
        os.replace(tmp, folder)
    except OSError:
        tmp.unlink()
        raise


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
    try:
        _link(folder, target)
    except OSError:
        if not folder.is_dir():
            raise
        # another process made the table first (Ray tasks of one build start units at once): theirs stands
    return folder


def _clear_leftovers(folder: Path) -> None:
    """Temporary folders a killed switch left, and generations superseded more than GRACE_S ago
    (a superseded generation's mtime is the moment of its switch)."""
    store = _store(folder)
    current = folder.resolve() if folder.is_symlink() else None
    now = time.time()
    for p in store.iterdir() if store.is_dir() else []:
        if p.is_dir() and p.resolve() != current and (not _GEN.match(p.name) or now - p.stat().st_mtime > GRACE_S):
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
        os.utime(old)  # superseded now: kept for readers still in it, removed by a switch GRACE_S later
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
