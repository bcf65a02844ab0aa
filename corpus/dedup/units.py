"""What dedup compares: one row per clip of a built corpus, or per video of a plan-only one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from corpus.dedup.mih import nonzero_rows
from corpus.dedup.pairs import Signed
from corpus.dedup.spill import ArrayWriter
from corpus.errors import InputError
from manifests.layout import CorpusLayout
from manifests.schemas import SIGNATURE_HASHES, SIGNATURE_MASKS, SIGNATURE_VIEWS
from manifests.tables import ManifestError, read_batches, read_table


@dataclass
class CorpusItems:
    """The items of one corpus: a frame with key, video_id, file_id, labeled, pixels; `built` when
    they are clips with signatures (read by signature_batches), not planned videos (compared by
    id alone)."""

    root: Path
    frame: pd.DataFrame
    built: bool

    @property
    def plan_only(self) -> bool:
        return not self.built


def signature_version(layout: CorpusLayout) -> int | None:
    """How the corpus' signatures were computed (corpus/media/signature.py); corpora built before
    versions were recorded hold version 1. None: a mix of corpora of different versions."""
    return layout.build_doc().get("signature_version", 1)


def check_signature_versions(roots: list[str | Path]) -> None:
    """Signatures of two versions are not comparable: their distances would mean nothing."""
    layouts = [CorpusLayout.at(r) for r in roots]
    versions = {str(lay.root): signature_version(lay) for lay in layouts
                if lay.is_corpus() and any(lay.table("clips").glob("*.parquet"))}  # plan-only ones have none
    if len(set(versions.values())) > 1:
        told = ", ".join(f"{r}: {'mixed' if v is None else f'version {v}'}" for r, v in versions.items())
        raise InputError(f"these corpora hold signatures computed in different ways ({told}), which cannot be "
                         f"compared; rebuild the older ones with this vmae (into a new --out) and dedup again")


_HASH_KEYS = ("vmae-file-id-one", "vmae-file-id-two")  # two 64-bit hashes of a string: 128 bits
_HASH_ROWS = 1 << 20  # rows hashed at once (as Python strings for a moment)


def file_ids(sha256: pa.ChunkedArray | pa.Array) -> pd.api.extensions.ExtensionArray:
    """Each clip's file, as 16 bytes (two keyed 64-bit hashes of its sha256; null where it has
    none): equal for equal files, and 16 bytes a clip where the hex text took 72 (1.8 GB at 25M
    clips). Two different files share an id with probability about N² / 2^129. An array, not a
    Series: it takes the rows of whatever frame it joins, whatever that frame's index."""
    words = string_hashes(sha256)
    ids = pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), len(words), [None, pa.py_buffer(words.tobytes())])
    ids = pc.if_else(pc.is_valid(sha256), ids, pa.scalar(None, pa.binary(16)))
    return pd.arrays.ArrowExtensionArray(ids)


def string_hashes(strings: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """(N, 2) uint64: two keyed 64-bit hashes of each string (128 bits: two different strings of
    25M share them with probability about 2^-80), hashed a million at a time (as Python strings
    for a moment)."""
    out = np.empty((len(strings), len(_HASH_KEYS)), np.uint64)
    for s in range(0, len(strings), _HASH_ROWS):
        text = strings[s : s + _HASH_ROWS].to_numpy(zero_copy_only=False).astype(object)
        for k, key in enumerate(_HASH_KEYS):
            out[s : s + len(text), k] = pd.util.hash_array(text, hash_key=key, categorize=False)
    return out


def load_items(root: str | Path) -> CorpusItems:
    layout = CorpusLayout.at(root)
    if not layout.is_corpus():
        raise ManifestError(f"{root} is not a vmae corpus folder (no build.json)")
    # only what dedup reads: the other columns of a million clips would double the peak
    clips = read_table(layout.root, "clips", required=False, columns=[
        "clip_key", "video_id", "sha256", "label_id", "row", "width", "height"])
    if clips.num_rows:
        # column by column from Arrow: a Python object per value held GBs at 1.35M clips
        frame = pd.DataFrame({
            "key": clips["clip_key"].to_pandas(), "video_id": clips["video_id"].to_pandas(),
            "file_id": file_ids(clips["sha256"]),
            "labeled": pc.is_valid(clips["label_id"]).to_numpy(zero_copy_only=False),
            "pixels": _source_pixels(layout, clips),
        })
        del clips
        pa.default_memory_pool().release_unused()
        return CorpusItems(layout.root, frame, True)
    videos = read_table(layout.root, "videos").to_pandas()
    live = videos[videos["status"].isin(["pending", "ok"])]
    frame = pd.DataFrame({"key": live["video_id"].astype(str), "video_id": live["video_id"].astype(str),
                          "file_id": file_ids(pa.nulls(len(live), pa.string())), "labeled": live["label"].notna(),
                          "pixels": 0})
    frame = frame.drop_duplicates("key").reset_index(drop=True)  # one item per video
    return CorpusItems(layout.root, frame, False)


_SIGNATURE_COLUMNS = {"signature": 1, "signature_views": SIGNATURE_VIEWS, "signature_masked": SIGNATURE_MASKS}
_BATCH_ROWS = 65_536


def signature_batches(root: Path) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """A built corpus' (n, 8), (n, SIGNATURE_VIEWS, 8) and (n, SIGNATURE_MASKS, 8) uint64 signatures,
    a batch of rows at a time (decoding a million clips' list columns at once took several GB);
    nulls (clips built before a column) are zeros."""
    for batch in read_batches(root, "clips", list(_SIGNATURE_COLUMNS), _BATCH_ROWS):
        out = []
        for name, count in _SIGNATURE_COLUMNS.items():
            column = batch.column(name)
            if column.null_count:
                column = pc.fill_null(column, pa.scalar([0] * SIGNATURE_HASHES * count, column.type))
            out.append(column.flatten().to_numpy(zero_copy_only=False).reshape(-1, count, SIGNATURE_HASHES))
        del batch
        pa.default_memory_pool().release_unused()  # else the pool keeps every batch's decoding buffers
        yield out[0][:, 0], out[1], out[2]


def read_signatures(root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All of a corpus' signatures in memory, as signature_batches gives them (for small corpora)."""
    batches = list(signature_batches(root))
    if not batches:
        return (np.empty((0, SIGNATURE_HASHES), np.uint64), np.empty((0, SIGNATURE_VIEWS, SIGNATURE_HASHES), np.uint64),
                np.empty((0, SIGNATURE_MASKS, SIGNATURE_HASHES), np.uint64))
    return tuple(np.concatenate(kind) for kind in zip(*batches, strict=True))


def spill_signatures(corpora: list[CorpusItems], rows: np.ndarray, folder: Path) -> Signed:
    """The signatures of the built corpora, one after the other, written to files in `folder` a
    batch at a time: what dedup searches, in memory a batch at a time whatever the corpora's
    size. rows: each item's row in dedup's items frame."""
    mains, views = ArrayWriter(folder, SIGNATURE_HASHES), ArrayWriter(folder, SIGNATURE_HASHES)
    masks = [ArrayWriter(folder, SIGNATURE_HASHES) for _ in range(SIGNATURE_MASKS)]
    owners: list[list[np.ndarray]] = [[] for _ in masks]
    for corpus in corpora:
        at = mains.written
        for main, view, masked in signature_batches(corpus.root):
            mains.append(main)
            views.append(view)
            for k, (writer, owner) in enumerate(zip(masks, owners, strict=True)):
                has = np.flatnonzero(nonzero_rows(masked[:, k]))
                writer.append(masked[has, k])
                owner.append(has + at)
            at += len(main)
    written = mains.done()
    if len(written) != len(rows):
        raise InputError(f"the clips tables changed while dedup read them ({len(written)} signatures for "
                         f"{len(rows)} clips); run dedup again")
    return Signed(rows, written, views.done(), SIGNATURE_VIEWS,
                  [(np.concatenate(o) if o else np.empty(0, np.int64), w.done()) for o, w in zip(owners, masks,
                                                                                               strict=True)])


def _source_pixels(layout: CorpusLayout, clips) -> np.ndarray:
    """Each clip's source resolution (width x height of the file it was cut from), so that of two
    copies stored at the same short side the one from the larger original is kept; a clip whose
    row lacks it counts its own pixels."""
    videos = read_table(layout.root, "videos").select(["row", "width", "height"]).to_pandas()
    source = (videos["width"].astype("float64") * videos["height"].astype("float64")).set_axis(videos["row"])
    own = pc.multiply(clips["width"], clips["height"]).to_numpy(zero_copy_only=False).astype("float64")
    found = source.reindex(clips["row"].to_numpy(zero_copy_only=False)).to_numpy()
    return np.where(np.isnan(found), own, found).astype(np.int64)
