"""The embedding files of `vmae corpus dedup --embeddings` (Parquet of clip_key and embedding, as
`vmae embed` writes them), read out of core: their keys first (to find each clip's row and to
refuse a key given twice), then the embeddings a batch at a time, checked and normalized. At 25M
clips of 512 values they are 25 GB as float16 and twice that as float32: never held whole."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from corpus.dedup.units import string_hashes
from corpus.errors import InputError

_BATCH_VALUES = 1 << 22  # values read at once (16 MB of float32: 8k embeddings of 512)


@dataclass(frozen=True)
class EmbeddingFiles:
    """The files, checked for their columns and one width; rows numbered across them in order."""

    paths: tuple[str, ...]
    width: int
    rows: int

    @classmethod
    def open(cls, paths: list[str | Path] | tuple[str, ...]) -> EmbeddingFiles:
        files = [_embedding_file(p) for p in paths]
        widths = {width for _, width in files}
        if len(widths) > 1:
            raise InputError(f"--embeddings: the files hold embeddings of different widths ({sorted(widths)})")
        return cls(tuple(str(p) for p in paths), widths.pop() if widths else 1,
                   sum(f.metadata.num_rows for f, _ in files))

    def keys(self) -> KeyIndex:
        """Every row's clip_key, hashed and sorted for look-ups (only that column is read). Refuses
        a key given twice."""
        parts = [string_hashes(batch.column(0)) for path, batch in self._batches(["clip_key"], 1 << 20)]
        hashes = np.concatenate(parts) if parts else np.empty((0, 2), np.uint64)
        if len(hashes) != self.rows:
            raise InputError(f"--embeddings: the files hold {len(hashes)} rows where their metadata says "
                             f"{self.rows}; write them again")
        order = np.lexsort((hashes[:, 1], hashes[:, 0]))
        ordered = hashes[order]
        if np.any(np.all(ordered[1:] == ordered[:-1], axis=1)):
            raise InputError("--embeddings: a clip_key occurs twice; give each clip's embedding once")
        return KeyIndex(ordered, order)

    def batches(self) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, (n, width) float32 L2-normalized embeddings) for every batch, in row order;
        values that are not finite are refused, in any row."""
        at = 0
        for path, batch in self._batches(["embedding"], max(1, _BATCH_VALUES // self.width)):
            try:
                block = batch.column(0).flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
                block = block.reshape(-1, self.width)
            except (ValueError, TypeError, pa.ArrowException) as e:  # values that are not numbers
                raise _unreadable(path, e) from e
            if not np.isfinite(block).all():
                raise InputError(f"--embeddings {path}: holds values that are not finite")
            block = block / np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)
            yield at, block
            at += len(block)

    def _batches(self, columns: list[str], rows: int) -> Iterator[tuple[str, pa.RecordBatch]]:
        for path in self.paths:
            try:
                file = pq.ParquetFile(path, pre_buffer=False)
                for batch in file.iter_batches(batch_size=rows, columns=columns, use_threads=False):
                    yield path, batch
            except (OSError, ValueError, TypeError) as e:  # damaged pages, values of another kind
                raise _unreadable(path, e) from e


def _unreadable(path: str, error: Exception) -> InputError:
    return InputError(f"--embeddings {path}: cannot be read as clip keys and embeddings ({error})")


@dataclass(frozen=True)
class KeyIndex:
    """The files' key hashes (rows, 2), sorted, and the row each came from."""

    ordered: np.ndarray
    order: np.ndarray

    def rows_of(self, wanted: np.ndarray) -> np.ndarray:
        """For each of `wanted` (k, 2) key hashes, the row with that key, or -1 where none has it."""
        lo = np.searchsorted(self.ordered[:, 0], wanted[:, 0], "left")
        hi = np.searchsorted(self.ordered[:, 0], wanted[:, 0], "right")
        found = np.full(len(wanted), -1, np.int64)
        for step in range(int((hi - lo).max(initial=0))):  # one step but where first hashes collide (~N²/2^65)
            at = np.flatnonzero(hi - lo > step)
            match = self.ordered[lo[at] + step, 1] == wanted[at, 1]
            found[at[match]] = self.order[lo[at[match]] + step]
        return found


def _embedding_file(path: str | Path) -> tuple[pq.ParquetFile, int]:
    """The file, opened and checked (its columns), and its embeddings' width."""
    try:
        file = pq.ParquetFile(path, pre_buffer=False)
        kind = file.schema_arrow.field("embedding").type
        file.schema_arrow.field("clip_key")
    except (OSError, KeyError, ValueError) as e:
        raise InputError(f"--embeddings {path}: not a Parquet file with clip_key and embedding columns, as "
                         f"'vmae embed' writes ({e})") from e
    width = getattr(kind, "list_size", None)
    if width is None or width <= 0:
        raise InputError(f"--embeddings {path}: 'embedding' must be a fixed-size list of floats")
    return file, width
