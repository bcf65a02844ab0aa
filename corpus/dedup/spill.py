"""Arrays dedup keeps on disk while it runs: every clip's signatures (14 of 64 bytes each: 22 GB at
25M clips) are written there a batch at a time from the tables, and read back a block at a time,
so that memory stays that of a block whatever the corpus' size. Workers on this machine read the
files themselves (a pickled copy per worker through a pipe cost 11 s and a GB each at 1.35M clips);
workers elsewhere (Ray) get the arrays.

Blocks are read with plain file reads into memory the reader owns, not through a map: pages of a
mapped file stay in the process' resident set while it holds the map."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_SAVED = itertools.count()
_GATHER_ROWS = 1 << 16  # rows gathered through a transient map at once


@dataclass(frozen=True)
class OnDisk:
    """A 2-d array in a file: its rows from byte `offset` on."""

    path: str
    shape: tuple[int, int]
    dtype: str
    offset: int

    def __len__(self) -> int:
        return self.shape[0]

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows start..stop, read into a new array."""
        start, stop = min(start, len(self)), min(stop, len(self))
        width, item = self.shape[1], np.dtype(self.dtype).itemsize
        out = np.fromfile(self.path, self.dtype, (stop - start) * width, offset=self.offset + start * width * item)
        return out.reshape(-1, width)

    def read(self) -> np.ndarray:
        return self.rows(0, len(self))

    def take(self, index: np.ndarray) -> np.ndarray:
        """Rows at `index` (any order), a block of rows at a time through a map that is dropped
        after each (so its pages leave this process' resident set)."""
        out = np.empty((len(index), self.shape[1]), self.dtype)
        for s in range(0, len(index), _GATHER_ROWS):
            mapped = np.memmap(self.path, self.dtype, "r", self.offset, self.shape)
            out[s : s + _GATHER_ROWS] = mapped[index[s : s + _GATHER_ROWS]]
            del mapped
        return out


Shipped = np.ndarray | OnDisk


class ArrayWriter:
    """A file of (rows, width) values, written a block of rows at a time (raw: its shape is the
    OnDisk's, known once every block is written)."""

    def __init__(self, folder: Path, width: int, dtype=np.uint64) -> None:
        self.path = folder / f"array-{next(_SAVED)}.bin"
        self.width, self.dtype, self.written = width, np.dtype(dtype), 0
        self._file = open(self.path, "wb")  # noqa: SIM115 (closed by done())

    def append(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, self.dtype).reshape(-1, self.width)
        block.tofile(self._file)
        self.written += len(block)

    def done(self) -> OnDisk:
        self._file.close()
        return OnDisk(str(self.path), (self.written, self.width), self.dtype.str, 0)


def shipped(array: np.ndarray, folder: Path | None) -> Shipped:
    """The array itself, or saved in `folder` (when given) for workers to read."""
    if folder is None:
        return array
    flat = array.reshape(len(array), -1)
    writer = ArrayWriter(folder, flat.shape[1], array.dtype)
    writer.append(flat)
    return writer.done()


def rows(array: Shipped, start: int, stop: int) -> np.ndarray:
    return array.rows(start, stop) if isinstance(array, OnDisk) else array[start:stop]


def loaded(array: Shipped | None) -> np.ndarray | None:
    """The whole array in memory."""
    return array.read() if isinstance(array, OnDisk) else array


def taken(array: Shipped, index: np.ndarray) -> np.ndarray:
    return array.take(index) if isinstance(array, OnDisk) else array[index]


def removed(*arrays: Shipped | None) -> None:
    """Delete the files of the arrays that were saved (once their work is done)."""
    for array in arrays:
        if isinstance(array, OnDisk):
            Path(array.path).unlink(missing_ok=True)
