"""Failures of one row, with a short stable error_kind that manifests and reports group by."""

from __future__ import annotations

import errno
from pathlib import Path

# Kinds worth trying again later: the same request may well succeed then.
TRANSIENT_KINDS = frozenset({"timeout", "http_5xx", "rate_limited", "network", "truncated"})


class StepError(Exception):
    """A row (or every row of a fetched file) failed; `kind` goes to error_kind."""

    def __init__(self, kind: str, message: str, *, skipped: bool = False):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.skipped = skipped  # skipped (by rule) rather than failed (by accident)

    @property
    def transient(self) -> bool:
        return self.kind in TRANSIENT_KINDS


class InputError(Exception):
    """The input as a whole cannot be used (missing columns, unreadable file): raised before
    any work starts, with a message saying what was expected."""


# Errors of the machine, not of an input row: the build stops, fails no row, and a rerun resumes.
_MACHINE_ERRNOS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "the disk quota is exceeded",
                   errno.EROFS: "the file system is read-only", errno.EMFILE: "too many open files",
                   errno.ENFILE: "too many open files in the system", errno.EIO: "an input/output error"}
_MACHINE_MESSAGES = {"No space left on device": errno.ENOSPC, "Disk quota exceeded": errno.EDQUOT,
                     "Read-only file system": errno.EROFS, "Too many open files": errno.EMFILE}


class MachineFault(Exception):
    """The machine failed, not an input: a full disk, a read-only or vanished folder, too many
    open files. Raised through steps and executors unchanged; no row is failed for it."""

    def __init__(self, what: str, where: str | None = None):
        super().__init__(f"{what}{f' ({where})' if where else ''}")
        self.what, self.where = what, where


def machine_fault(e: BaseException, root: Path | None = None) -> MachineFault | None:
    """`e` as a MachineFault when it is one: an OSError of the machine kinds, or one saying that
    a folder under `root` (the corpus) vanished; None otherwise."""
    if isinstance(e, MachineFault):
        return e
    if not isinstance(e, OSError):
        return None
    if e.errno in _MACHINE_ERRNOS:
        return MachineFault(_MACHINE_ERRNOS[e.errno], e.filename)
    if isinstance(e, FileNotFoundError) and root is not None and e.filename and \
            Path(e.filename).resolve().is_relative_to(Path(root).resolve()):
        return MachineFault("a folder of the corpus vanished while the build wrote to it", e.filename)
    return None


def fault_in_message(message: str, where: str | None = None) -> MachineFault | None:
    """A tool's error message (ffmpeg, yt-dlp) that reports a machine fault."""
    for text, code in _MACHINE_MESSAGES.items():
        if text.lower() in message.lower():
            return MachineFault(_MACHINE_ERRNOS[code], where)
    return None
