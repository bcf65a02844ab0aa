"""A mix's rows, gathered from its inputs' clips/ tables a row group at a time: the clips of
each output unit (a Parquet file per unit, that the unit's worker reads) and the videos/ row of
every candidate clip (what became of it). Memory holds the plan's arrays and one batch, whatever
the size of the corpora: the clips of a unit lie all over its inputs, so they are first written
to a few buckets of consecutive units, then each bucket is sorted and split."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from corpus.compact import ROW_GROUP
from corpus.errors import InputError
from corpus.mix.plan import CLUSTER_CAP, MixPlan, Source
from manifests.atomic import atomic_path
from manifests.recipe import THRESHOLD_KEYS, Recipe
from manifests.sample import MAX_KEY_BYTES, media_ext
from manifests.schemas import CLIPS
from manifests.tables import from_columns, read_batches

# source_fps with fps: a clip stored by a `--for` profile is read at its stride in the mix too
COPIED = ("video_id", "start_s", "end_s", "duration_s", "fps", "source_fps", "frames", "width", "height", "bytes",
          "sha256", "signature", "signature_views", "signature_masked", "split", "caption", "captions", "meta",
          "motion", "shot_start_s", "shot_end_s", "sharpness", "frozen", "bars", "overlay")
_READ = [*COPIED, "clip_key", "shard", "label", "label_id", "media"]
# a planned clip: its clips/ row in the mix, and where its bytes lie (src_tar, src_member)
UNIT_SCHEMA = pa.schema([CLIPS.field(c) for c in (*COPIED, "clip_key", "source", "row", "origin_corpus",
                                                  "origin_key", "label", "label_id", "media", "unit", "shard")]
                        + [pa.field("src_tar", pa.string()), pa.field("src_member", pa.string())])
BUCKET_ROWS = 1 << 17  # output clips (of consecutive units) sorted together: ~150 MB of rows
BUFFERED_ROWS = 1 << 18  # rows held for all buckets before they go to disk: ~300 MB


def source_tars(plan: MixPlan, pool: dict[str, Source]) -> dict[str, dict[str, str]]:
    """Per source, the tar of each shard its used clips lie in, after refusing keys with a dot
    or a path separator and shards outside the corpus folder: names that come from an input
    never decide where anything is read or written."""
    tars = {}
    for k, name in enumerate(plan.names):
        clips = pool[name]
        used = np.unique(plan.row[plan.source == k])
        for _, keys in clips.keys(used):  # in row order: the first bad key is named
            bad = pc.or_(pc.equal(pc.binary_length(keys), 0), pc.match_substring_regex(keys, r"[./\\]"))
            first = pc.index(bad, True).as_py()
            if first >= 0:
                raise InputError(f"--input {name}={clips.corpus}: clip key {keys[first].as_py()!r} has a dot or a "
                                 "path separator; keys must be names without them. Rebuild that corpus, or drop the "
                                 "clip")
        root, tars[name] = Path(clips.corpus).resolve(), {}
        for code in np.unique(clips.shard[used]).tolist():
            shard = clips.shard_names[code] if code >= 0 else ""
            tar = (root / shard).resolve()
            if not shard or not tar.is_relative_to(root):
                raise InputError(f"--input {name}={clips.corpus}: shard {shard!r} is empty or lies outside the corpus "
                                 "folder; refusing to read it")
            tars[name][shard] = str(tar)
    return tars


def _unit_rows(batch: pa.RecordBatch, at: np.ndarray, name: str, clips: Source, plan: MixPlan,
               tars: dict[str, str], unit_of: np.ndarray, names: tuple[pa.Array, pa.Array], labeled: bool) -> pa.Table:
    """The planned rows of output clips `at`, whose source rows `batch` holds in the same order;
    `names` are the units' names and shards."""
    origin = batch.column("clip_key")
    changed = np.flatnonzero((plan.earlier[at] > 0) | pc.greater(pc.binary_length(origin), MAX_KEY_BYTES).to_numpy(
        zero_copy_only=False) | np.isin(at, list(plan.renamed)))
    keys = origin
    if len(changed):  # repeats (-rN), long keys, clashes: the keys the plan gave them
        keys = np.array(origin.to_pylist(), object)
        keys[changed] = plan.base_keys(at[changed], keys[changed].tolist())
        keys[changed] = [plan.renamed.get(i) or key for i, key in zip(at[changed].tolist(), keys[changed], strict=True)]
        keys = pa.array(keys.tolist(), pa.string())
    media = pc.fill_null(batch.column("media"), "video")
    ext = pc.if_else(pc.equal(media, "image"), "." + media_ext("image"), "." + media_ext(None))
    shard_list = list(tars)
    unit = pa.array(unit_of[at])
    n = len(at)
    columns = {c: batch.column(c) for c in COPIED} | {
        "clip_key": keys, "source": pa.array([name] * n, pa.string()), "row": pa.array(at),
        "origin_corpus": pa.array([clips.corpus] * n, pa.string()), "origin_key": origin,
        "label": batch.column("label") if labeled else pa.nulls(n, pa.string()),
        "label_id": batch.column("label_id") if labeled else pa.nulls(n, pa.int32()),
        "media": media, "unit": names[0].take(unit), "shard": names[1].take(unit),
        "src_tar": pa.array([tars[s] for s in shard_list], pa.string()).take(
            pc.index_in(batch.column("shard"), value_set=pa.array(shard_list, pa.string()))),
        "src_member": pc.binary_join_element_wise(origin, ext, "")}
    return pa.table([columns[f.name].cast(f.type) for f in UNIT_SCHEMA], schema=UNIT_SCHEMA)


def unit_file(folder: Path, unit: str) -> Path:
    return folder / f"{unit}.parquet"


class _Buckets:
    """Rows on their way to their bucket: held per bucket, and written as a file of their own
    once a bucket holds its share of BUFFERED_ROWS. No writer stays open: a Parquet writer keeps
    the metadata of every row group it wrote (gigabytes for a 25M-clip mix)."""

    def __init__(self, folder: Path, count: int):
        self.folder, self.share = folder, max(1024, BUFFERED_ROWS // max(count, 1))
        self.held: dict[int, list[pa.Table]] = {}
        self.files: dict[int, list[Path]] = {}

    def add(self, bucket: int, rows: pa.Table) -> None:
        self.held.setdefault(bucket, []).append(rows)
        if sum(t.num_rows for t in self.held[bucket]) >= self.share:
            self._flush(bucket)

    def _flush(self, bucket: int) -> None:
        files = self.files.setdefault(bucket, [])
        files.append(self.folder / f"bucket-{bucket:06d}-{len(files):06d}.parquet")
        pq.write_table(pa.concat_tables(self.held.pop(bucket)), files[-1])

    def sorted_buckets(self) -> Iterator[pa.Table]:
        """Each bucket's rows sorted by output row, one bucket at a time."""
        for bucket in list(self.held):
            self._flush(bucket)
        for bucket in sorted(self.files):
            rows = pa.concat_tables([pq.read_table(f) for f in self.files[bucket]]).sort_by("row")
            for f in self.files[bucket]:
                f.unlink()
            yield rows


def write_units(plan: MixPlan, pool: dict[str, Source], tars: dict, folder: Path, labeled: bool,
                skip: set[str]) -> None:
    """A Parquet file of planned rows, in output order, for every unit not in `skip`."""
    folder.mkdir(parents=True, exist_ok=True)
    unit_of = plan.unit_of()
    wanted = np.array([u not in skip for u in plan.units], bool)
    bucket_of_unit = plan.unit_start // BUCKET_ROWS
    buckets = _Buckets(folder, len(np.unique(bucket_of_unit)))
    names = (pa.array(plan.units, pa.string()), pa.array(plan.shards(), pa.string()))
    for k, name in enumerate(plan.names):
        at = np.flatnonzero((plan.source == k) & wanted[unit_of])
        order = np.argsort(plan.row[at], kind="stable")
        rows, at = plan.row[at][order], at[order]
        offset = 0
        for batch in read_batches(Path(pool[name].corpus), "clips", _READ, ROW_GROUP):
            lo, hi = np.searchsorted(rows, [offset, offset + batch.num_rows])
            if hi > lo:
                piece = _unit_rows(batch.take(pa.array(rows[lo:hi] - offset)), at[lo:hi], name, pool[name], plan,
                                   tars[name], unit_of, names, labeled)
                bucket = bucket_of_unit[unit_of[at[lo:hi]]]
                # each bucket's rows copied out once (a slice would keep the whole batch alive)
                order = np.argsort(bucket, kind="stable")
                starts = np.flatnonzero(np.r_[True, bucket[order][1:] != bucket[order][:-1]])
                for start, end in zip(starts.tolist(), np.r_[starts[1:], len(order)].tolist(), strict=True):
                    buckets.add(int(bucket[order[start]]), piece.take(pa.array(order[start:end])))
            offset += batch.num_rows
    for rows in buckets.sorted_buckets():
        unit = rows["unit"].to_numpy(zero_copy_only=False)
        starts = np.flatnonzero(np.r_[True, unit[1:] != unit[:-1]])
        for start, end in zip(starts, np.r_[starts[1:], len(unit)], strict=True):
            with atomic_path(unit_file(folder, unit[start])) as tmp:
                pq.write_table(rows.slice(start, end - start), tmp)


def accounting(plan: MixPlan, pool: dict[str, Source], recipe: Recipe) -> Iterator[pa.Table]:
    """videos/ rows, a batch at a time, one per candidate clip: pending until its unit is
    written, or why it was not used."""
    unit_of, row0 = plan.unit_of(), 0
    unit_names = pa.array([*plan.units, "plan"], pa.string())
    for k, name in enumerate(plan.names):
        clips, mine = pool[name], plan.source == k
        uses = np.bincount(plan.row[mine], minlength=len(clips))
        first = np.full(len(clips), len(plan.units))  # "plan": not used
        firsts = np.flatnonzero(mine & (plan.earlier == 0))
        first[plan.row[firsts]] = unit_of[firsts]
        limits = list(recipe.thresholds_of(name).items())
        over = f"not sampled: source '{name}' is over its quota of {recipe.quotas[name]} (before --scale)"
        offset = 0
        for batch in read_batches(Path(clips.corpus), "clips", ["clip_key", "video_id", "source", "start_s", "end_s",
                                                                  "label", "split", "caption"], ROW_GROUP):
            n = batch.num_rows
            span = slice(offset, offset + n)
            used, keep, out = uses[span], clips.keep[span], clips.out[span]
            kind, error = np.full(n, None, object), np.full(n, None, object)
            for i in np.flatnonzero((used == 0) & ~keep).tolist():
                kind[i], error[i] = "duplicate", f"dropped by dedup ({clips.reason[offset + i].as_py()})"
            for i in np.flatnonzero((used == 0) & keep & (out != -1)).tolist():
                kind[i], error[i] = _kept_out(clips, offset + i, int(out[i]), limits, recipe)
            idle = (used == 0) & keep & (out == -1)
            kind[idle], error[idle] = "over_quota", over
            meta = [json.dumps({"origin_source": s, "origin_video_id": v})
                    for s, v in zip(batch.column("source").to_pylist(), batch.column("video_id").to_pylist(),
                                    strict=True)]
            yield from_columns("videos", {
                "row": pa.array(np.arange(row0 + offset, row0 + offset + n)), "video_id": batch.column("clip_key"),
                "source": pa.array([name] * n, pa.string()), "path": pa.array([clips.corpus] * n, pa.string()),
                **{c: batch.column(c) for c in ("start_s", "end_s", "label", "split", "caption")},
                "status": pa.array(np.where(used > 0, "pending", "skipped")), "clips": pa.array(used),
                "unit": unit_names.take(pa.array(first[span])), "meta": pa.array(meta, pa.string()),
                "error_kind": pa.array(kind, pa.string()), "error": pa.array(error, pa.string())}, n)
            offset += n
        row0 += len(clips)


def _kept_out(clips: Source, i: int, code: int, limits: list, recipe: Recipe) -> tuple[str, str]:
    if code == CLUSTER_CAP:
        return "cluster_cap", (f"kept out by the recipe: semantic cluster {clips.cluster[i]} already gives this "
                               f"source {recipe.max_per_cluster} clips (max_per_cluster)")
    key, limit = limits[code]
    signal = THRESHOLD_KEYS[key]
    return signal.reason, f"kept out by the recipe: {signal.detail(float(clips.scores[signal.column][i]), limit)}"
