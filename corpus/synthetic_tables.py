"""Corpus tables without any video, as a build writes them: for planning a mix and other
commands that read tables only, at the sizes of the largest recipes (bench/scale.py) and in the
tests of their memory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from corpus.compact import ROW_GROUP
from manifests.schemas import CLIPS, DEDUP, with_version

DROPPED = 0.05  # share of the clips that dedup drops


def _batch(source: str, start: int, stop: int, rng: np.random.Generator) -> pa.Table:
    """Clips start..stop of one synthetic corpus, every column a build writes; signatures of low
    entropy (the disk stays small, their decoded size is a real clip's)."""
    n, ids = stop - start, range(start, stop)
    keys = pa.array([f"{source}_v{i:09d}_000000000_000010000" for i in ids])
    hashes = {name: pa.FixedSizeListArray.from_arrays(pa.array(np.repeat(np.arange(start, stop, dtype=np.uint64),
                                                                         width)), width)
              for name, width in (("signature", 8), ("signature_views", 88), ("signature_masked", 16))}
    units = np.arange(start, stop) // 1000
    columns = {
        "clip_key": keys, "video_id": pa.array([f"v{i:09d}" for i in ids]), "source": pa.array([source] * n),
        "row": pa.array(np.arange(start, stop)), "start_s": pa.array(np.zeros(n)), "end_s": pa.array(np.full(n, 10.0)),
        "duration_s": pa.array(np.full(n, 10.0)), "fps": pa.array(np.full(n, 30.0)),
        "source_fps": pa.array(np.full(n, 30.0)), "frames": pa.array(np.full(n, 300, np.int32)),
        "width": pa.array(np.full(n, 568, np.int32)), "height": pa.array(np.full(n, 320, np.int32)),
        "bytes": pa.array(rng.integers(200_000, 2_000_000, n)),
        "sha256": pa.array([f"{i:064x}" for i in ids]), **hashes, "split": pa.array(["train"] * n),
        "caption": pa.array([f"a person does thing number {i % 9973} in a place number {i % 7919}" for i in ids]),
        "shard": pa.array([f"tars/u{u:06d}-0000.tar" for u in units]),
        "unit": pa.array([f"u{u:06d}" for u in units]), "media": pa.array(["video"] * n),
        **{c: pa.array(rng.random(n) * 10) for c in ("motion", "sharpness")},
        **{c: pa.array(rng.random(n) * 0.1) for c in ("frozen", "bars", "overlay")},
    }
    schema = with_version(CLIPS, "clips")
    return pa.table({f.name: columns.get(f.name, pa.nulls(n, f.type)) for f in schema}, schema=schema)


def make_corpus_tables(root: Path, source: str, clips: int, seed: int) -> None:
    """One corpus' clips/ and dedup/ tables, written a row group at a time (bounded memory)."""
    rng = np.random.default_rng(seed)
    for table in ("clips", "dedup"):
        (root / table).mkdir(parents=True)
    dedup_schema = with_version(DEDUP, "dedup")
    with pq.ParquetWriter(root / "clips" / "part-c000000.parquet", with_version(CLIPS, "clips"),
                          compression="zstd") as clips_out, \
            pq.ParquetWriter(root / "dedup" / "part-all.parquet", dedup_schema, compression="zstd") as dedup_out:
        for start in range(0, clips, ROW_GROUP):
            batch = _batch(source, start, min(start + ROW_GROUP, clips), rng)
            clips_out.write_table(batch, row_group_size=ROW_GROUP)
            keep = rng.random(batch.num_rows) >= DROPPED
            verdict = {"clip_key": batch["clip_key"], "video_id": batch["video_id"], "keep": pa.array(keep),
                       "reason": pa.array(np.where(keep, None, "near"))}
            dedup_out.write_table(pa.table({f.name: verdict.get(f.name, pa.nulls(batch.num_rows, f.type))
                                            for f in dedup_schema}, schema=dedup_schema))
    (root / "build.json").write_text(json.dumps({"tool": "vmae", "source": source, "state": "complete",
                                                 "rows": clips}))
