"""Corpus tables without any video, as a build writes them: for planning a mix and other
commands that read tables only, at the sizes of the largest recipes (bench/scale.py) and in the
tests of their memory."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from corpus.compact import ROW_GROUP
from corpus.media.signature import SIGNATURE_VERSION
from manifests.schemas import TABLES, with_version
from manifests.tables import from_columns

DROPPED = 0.05  # share of the clips that the dedup/ table written here drops
COPIES = 0.02  # share of the clips whose signature is a near copy (a few bits apart) of another's
_PART = "part-c000000.parquet"  # each table's one part, as `vmae corpus compact` leaves it
SCENES = 2000  # embeddings are drawn around this many centres, so that clusters have structure


def _signatures(n: int, rng: np.random.Generator) -> dict[str, pa.Array]:
    """Random signatures, as incompressible as real ones (dedup's search costs what it would), with
    COPIES of the rows' whole-frame signatures near copies of another row's (within a few bits)."""
    words = rng.integers(0, np.iinfo(np.uint64).max, size=(n, 112), dtype=np.uint64, endpoint=True)
    copies = rng.choice(n, int(n * COPIES), replace=False)
    flips = np.zeros((len(copies), 8), np.uint64)
    bits = rng.integers(0, 512, size=(len(copies), 12))
    np.bitwise_or.at(flips, (np.repeat(np.arange(len(copies)), bits.shape[1]), (bits // 64).ravel()),
                     np.uint64(1) << (63 - bits % 64).astype(np.uint64).ravel())
    words[copies, :8] = words[rng.integers(0, n, len(copies)), :8] ^ flips
    return {name: pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(words[:, a:b]).ravel()), b - a)
            for name, a, b in (("signature", 0, 8), ("signature_views", 8, 96), ("signature_masked", 96, 112))}


def _batch(source: str, start: int, stop: int, rng: np.random.Generator) -> pa.Table:
    """Clips start..stop of one synthetic corpus, every column a build writes."""
    n, ids = stop - start, range(start, stop)
    keys = pa.array([f"{source}_v{i:09d}_000000000_000010000" for i in ids])
    hashes = _signatures(n, rng)
    units = np.arange(start, stop) // 1000
    columns = {
        "clip_key": keys, "video_id": pa.array([f"v{i:09d}" for i in ids]), "source": pa.array([source] * n),
        "row": pa.array(np.arange(start, stop)), "start_s": pa.array(np.zeros(n)), "end_s": pa.array(np.full(n, 10.0)),
        "duration_s": pa.array(np.full(n, 10.0)), "fps": pa.array(np.full(n, 30.0)),
        "source_fps": pa.array(np.full(n, 30.0)), "frames": pa.array(np.full(n, 300, np.int32)),
        "width": pa.array(np.full(n, 568, np.int32)), "height": pa.array(np.full(n, 320, np.int32)),
        "bytes": pa.array(rng.integers(200_000, 2_000_000, n)),
        # a file's hash, different in every corpus
        "sha256": pa.array([f"{zlib.crc32(source.encode()):08x}{i:056x}" for i in ids]), **hashes,
        "split": pa.array(["train"] * n),
        "caption": pa.array([f"a person does thing number {i % 9973} in a place number {i % 7919}" for i in ids]),
        "shard": pa.array([f"tars/u{u:06d}-0000.tar" for u in units]),
        "unit": pa.array([f"u{u:06d}" for u in units]), "media": pa.array(["video"] * n),
        **{c: pa.array(rng.random(n) * 10) for c in ("motion", "sharpness")},
        **{c: pa.array(rng.random(n) * 0.1) for c in ("frozen", "bars", "overlay")},
    }
    return from_columns("clips", columns, n)


def make_corpus_tables(root: Path, source: str, clips: int, seed: int) -> None:
    """One corpus' clips/, videos/ (a video per clip) and dedup/ tables, written a row group at a
    time (bounded memory)."""
    rng = np.random.default_rng(seed)
    for table in ("clips", "videos", "dedup"):
        (root / table).mkdir(parents=True)
    with _writer(root, "clips") as clips_out, _writer(root, "videos") as videos_out, \
            _writer(root, "dedup", "part-all.parquet") as dedup_out:
        for start in range(0, clips, ROW_GROUP):
            batch = _batch(source, start, min(start + ROW_GROUP, clips), rng)
            clips_out.write_table(batch, row_group_size=ROW_GROUP)
            video = {"row": batch["row"], "video_id": batch["video_id"], "source": batch["source"],
                     "status": pa.array(["ok"] * batch.num_rows), "width": batch["width"], "height": batch["height"],
                     "duration_s": batch["duration_s"], "clips": pa.array(np.ones(batch.num_rows, np.int32))}
            videos_out.write_table(from_columns("videos", video, batch.num_rows))
            keep = rng.random(batch.num_rows) >= DROPPED
            verdict = {"clip_key": batch["clip_key"], "video_id": batch["video_id"], "keep": pa.array(keep),
                       "reason": pa.array(np.where(keep, None, "near"))}
            dedup_out.write_table(from_columns("dedup", verdict, batch.num_rows))
    (root / "build.json").write_text(json.dumps({"tool": "vmae", "source": source, "state": "complete",
                                                 "rows": clips, "signature_version": SIGNATURE_VERSION}))


def _writer(root: Path, table: str, part: str = _PART) -> pq.ParquetWriter:
    return pq.ParquetWriter(root / table / part, with_version(TABLES[table], table), compression="zstd")


def make_embeddings(root: Path, path: Path, dim: int, seed: int) -> None:
    """A Parquet of the corpus' clip embeddings as 'vmae embed' writes them (clip_key, embedding;
    float16 here, as a large corpus' would be stored), around SCENES centres with COPIES near
    copies (cosine about 0.98), written a row group at a time."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).normal(size=(SCENES, dim)).astype(np.float32)
    schema = pa.schema([("clip_key", pa.string()), ("embedding", pa.list_(pa.float16(), dim))])
    with pq.ParquetWriter(path, schema) as out:
        for batch in pq.ParquetFile(root / "clips" / _PART).iter_batches(ROW_GROUP, columns=["clip_key"]):
            n = batch.num_rows
            x = centres[rng.integers(0, SCENES, n)] + 0.6 * rng.normal(size=(n, dim)).astype(np.float32)
            copies = rng.choice(n, int(n * COPIES), replace=False)
            x[copies] = x[rng.integers(0, n, len(copies))] + 0.05 * rng.normal(size=(len(copies), dim))
            x /= np.linalg.norm(x, axis=1, keepdims=True)
            values = pa.array(x.astype(np.float16).ravel())
            out.write_table(pa.table({"clip_key": batch.column("clip_key"),
                                      "embedding": pa.FixedSizeListArray.from_arrays(values, dim)}, schema=schema))
