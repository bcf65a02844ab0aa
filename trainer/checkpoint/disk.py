"""Writing checkpoint and model files so that a full disk says so. torch.save reports a failed write
as a bare RuntimeError ('unexpected pos …'), safetensors as a SafetensorError with the OS error in
its text, torch.distributed.checkpoint as a CheckpointException holding each rank's failure: each is
turned back into the OSError it was, so that the command stops as on any other fault of the
machine (a message and exit 3), and every file is written under a temporary name first so that
nothing half-written is left."""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch

from manifests.atomic import atomic_path


class _KeepsErrors:
    """A file whose write errors are kept: torch.save swallows them and fails later, vaguely."""

    def __init__(self, f):
        self.f, self.error = f, None

    def write(self, data) -> int:
        try:
            return self.f.write(data)
        except OSError as e:
            self.error = e
            raise

    def flush(self) -> None:
        self.f.flush()


def save_torch(obj, path: Path) -> None:
    """torch.save(obj) to `path` atomically; a failed write raises the OSError it was."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        sink = _KeepsErrors(f)
        try:
            torch.save(obj, sink)
        except RuntimeError as e:
            if sink.error is not None:
                raise sink.error from e
            raise


def save_safetensors(tensors: dict, path: Path, metadata: dict[str, str]) -> None:
    """A .safetensors file at `path`, atomically; a failed write raises the OSError it was."""
    from safetensors.torch import save_file

    with atomic_path(path) as tmp:
        try:
            save_file(tensors, tmp, metadata=metadata)
        except Exception as e:  # noqa: BLE001 - SafetensorError is not importable by a stable name
            raise os_error_in_text(str(e), tmp) or e from e


def os_error_in_text(text: str, where: Path) -> OSError | None:
    """The OSError a library's message reports ('… (os error 28)'), or None."""
    found = re.search(r"os error (\d+)", text)
    if found is None:
        return None
    code = int(found.group(1))
    return OSError(code, os.strerror(code), str(where))


def os_error_of(e: BaseException) -> OSError | None:
    """The OSError behind a CheckpointException (its failures hold each rank's exception), or None."""
    for failure in (getattr(e, "failures", None) or {}).values():
        for item in failure if isinstance(failure, tuple) else (failure,):
            if isinstance(item, OSError):
                return item
    return None
