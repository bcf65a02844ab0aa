"""One writer per corpus folder: a build, a compaction or a retry holds DIR/.lock (an flock) for
as long as it writes, so two of them never interleave their parts."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from corpus.errors import InputError


@contextlib.contextmanager
def writing(root: Path) -> Iterator[None]:
    """Hold the corpus' lock for the block. A folder this made, left holding nothing but the lock
    (the input was refused before any work), is removed again."""
    made = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    lock = root / ".lock"
    try:
        with open(lock, "a+") as f:
            _acquire(f, root)
            try:
                yield
            finally:
                with contextlib.suppress(OSError):  # a read-only or full disk must not hide why we stopped
                    f.seek(0)
                    f.truncate()
                fcntl.flock(f, fcntl.LOCK_UN)
    finally:
        if made and root.is_dir() and [p.name for p in root.iterdir()] == [".lock"]:
            lock.unlink()
            root.rmdir()


def _acquire(f, root: Path) -> None:
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "another process"
        raise InputError(f"{root} is being written by {holder}; wait for it to end (or stop it), then rerun") from None
    f.seek(0)
    f.truncate()
    f.write(f"vmae pid {os.getpid()} on {os.uname().nodename}")
    f.flush()
