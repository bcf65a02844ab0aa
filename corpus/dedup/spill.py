"""Arrays for worker processes of this machine: saved once as .npy in a folder dedup owns, and
mapped by each worker (the pages are shared), instead of a pickled copy per worker through a
pipe (11 s and a GB each for 1.35M clips' signatures). Workers elsewhere (Ray) get the arrays."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_SAVED = itertools.count()


@dataclass(frozen=True)
class OnDisk:
    path: str
    shape: tuple[int, ...]

    def load(self) -> np.ndarray:
        return np.load(self.path, mmap_mode="r")


Shipped = np.ndarray | OnDisk


def shipped(array: np.ndarray, folder: Path | None) -> Shipped:
    """The array itself, or saved in `folder` (when given) for workers to map."""
    if folder is None:
        return array
    path = folder / f"array-{next(_SAVED)}.npy"
    np.save(path, array)
    return OnDisk(str(path), array.shape)


def loaded(array: Shipped | None) -> np.ndarray | None:
    return array.load() if isinstance(array, OnDisk) else array


def removed(*arrays: Shipped | None) -> None:
    """Delete the files of the arrays that were saved (once their work is done)."""
    for array in arrays:
        if isinstance(array, OnDisk):
            Path(array.path).unlink(missing_ok=True)
