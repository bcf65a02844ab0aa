"""One writer per corpus folder, or readers: a build, a compaction, a retry or a dedup holds
DIR/.lock (an flock) alone for as long as it writes, so two of them never interleave their parts;
a mix (and dedup's --against) holds it shared for as long as it reads a corpus, so that it never
reads one that is being written, and no build starts on it meanwhile. A corpus whose build
stopped half-way is refused as an input unless the user says to use it as it is."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from corpus.errors import InputError
from manifests.layout import CorpusLayout

log = logging.getLogger(__name__)


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
        raise InputError(f"{root} is in use by {holder} (a build, compaction or dedup writing it, or a mix reading "
                         "it); wait for it to end (or stop it), then rerun") from None
    f.seek(0)
    f.truncate()
    f.write(f"vmae pid {os.getpid()} on {os.uname().nodename}")
    f.flush()


@contextlib.contextmanager
def reading(roots: Iterable[str | Path]) -> Iterator[None]:
    """Shared locks on the corpora at `roots` for the block: refused with a message while one of
    them is being written."""
    with contextlib.ExitStack() as stack:
        for root in dict.fromkeys(Path(r).resolve() for r in roots):
            stack.enter_context(_shared(root))
        yield


@contextlib.contextmanager
def _shared(root: Path) -> Iterator[None]:
    lock = root / ".lock"
    try:
        f = open(lock, "r" if lock.exists() else "a+")  # noqa: SIM115 - closed below
    except OSError:  # a read-only copy of a corpus: nothing can be writing it
        yield
        return
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = f.read().strip() or "another process"
            raise InputError(f"{root} is being written by {holder} (a build, compaction or dedup); reading it now "
                             "would see half of it. Wait for that to end, then rerun") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def check_finished(root: str | Path, accepted: tuple[str, ...], allow_unfinished: bool) -> None:
    """Refuse (or, when allowed, warn loudly about) a corpus whose build did not finish: what it
    holds now is not what it will hold, and a mix or dedup of it would say otherwise."""
    state = CorpusLayout.at(root).build_doc().get("state")
    if state in accepted:
        return
    told = (f"{root}: its build did not finish (state '{state}'), so it holds only part of its clips and a result "
            "made from it would be missing the rest")
    if not allow_unfinished:
        raise InputError(f"{told}. Rerun its build to the end (the same command resumes it), or pass "
                         "--allow-unfinished to use it as it is")
    log.warning("USING AN UNFINISHED CORPUS (--allow-unfinished): %s", told)
