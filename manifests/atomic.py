"""Atomic file writes: write under a hidden temporary name in the same folder, then rename into
place. Readers (and pyarrow's dataset discovery, which skips dot-files) never see half a file,
and a crash leaves the previous version intact."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yields the temporary path to write; renames it to `path` when the block ends without an
    error, removes it otherwise."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def remove_leftovers(folder: Path) -> None:
    """Delete the temporary files of writes a killed process left in `folder` (a kill -9 skips the
    cleanup above). Only for a writer holding the corpus' lock: no other write can be in flight."""
    for tmp in Path(folder).glob(".*.tmp") if Path(folder).is_dir() else []:
        tmp.unlink(missing_ok=True)
