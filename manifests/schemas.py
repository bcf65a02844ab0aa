"""Explicit, versioned pyarrow schemas of every corpus table (DESIGN.md §2).

Inferred schemas drift between writers (a column that is all-null in one part becomes `null`
typed), so every part file is written against one of these, and the version is stored in the
file metadata so that readers can refuse files they do not understand.
"""

from __future__ import annotations

import pyarrow as pa

# 2: captions (every caption of a row, `caption` keeps the first) and media (video or image)
# 3: quality signals of clips (sharpness, frozen, bars, overlay) and the rejects table
# 4: source_fps of clips (the rate of the video a clip was cut from; `--for` profiles store fewer)
SCHEMA_VERSION = 4
READABLE_VERSIONS = (1, 2, 3, 4)  # an older part reads with the added columns as nulls
VERSION_KEY = b"vmae.schema"

# Number of 64-bit perceptual hashes, spread evenly over a clip, that make its signature.
SIGNATURE_HASHES = 8
# Besides its whole-frame signature a clip keeps SIGNATURE_VIEWS more, each compared with every
# other clip's whole signature (crops and a shift in time), and SIGNATURE_MASKS signatures with a
# band of the picture blanked out, each compared with the same mask of every other clip
# (corpus/media/signature.py makes them; a logo or a watermark sits in such a band).
SIGNATURE_VIEWS = 11
SIGNATURE_MASKS = 2

STATUSES = ("pending", "ok", "failed", "skipped")

VIDEOS = pa.schema(
    [
        ("row", pa.int64()),  # global index of the input row, unique: the "exactly once" key
        ("video_id", pa.string()),
        ("source", pa.string()),
        ("url", pa.string()),
        ("path", pa.string()),
        ("offset_s", pa.float64()),  # where the fetched file starts in the original video
        ("start_s", pa.float64()),
        ("end_s", pa.float64()),
        ("label", pa.string()),
        ("label_id", pa.int32()),
        ("split", pa.string()),
        ("caption", pa.string()),  # the first caption
        ("captions", pa.list_(pa.string())),  # every caption of the row (MSR-VTT: 20), in input order
        ("meta", pa.string()),  # JSON object of input columns carried through as they were
        ("status", pa.string()),
        ("error_kind", pa.string()),
        ("error", pa.string()),
        ("attempts", pa.int32()),
        ("bytes", pa.int64()),
        ("sha256", pa.string()),
        ("duration_s", pa.float64()),
        ("fps", pa.float64()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("codec", pa.string()),
        ("clips", pa.int32()),
        ("unit", pa.string()),
    ]
)

CLIPS = pa.schema(
    [
        ("clip_key", pa.string()),
        ("video_id", pa.string()),
        ("source", pa.string()),
        ("row", pa.int64()),
        ("start_s", pa.float64()),
        ("end_s", pa.float64()),
        ("duration_s", pa.float64()),
        ("fps", pa.float64()),
        ("source_fps", pa.float64()),  # the rate of the video it was cut from (a stride counts its frames)
        ("frames", pa.int32()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("bytes", pa.int64()),
        ("sha256", pa.string()),
        ("signature", pa.list_(pa.uint64(), SIGNATURE_HASHES)),
        # the signatures of the clip's views and masked pictures, one after the other
        ("signature_views", pa.list_(pa.uint64(), SIGNATURE_HASHES * SIGNATURE_VIEWS)),
        ("signature_masked", pa.list_(pa.uint64(), SIGNATURE_HASHES * SIGNATURE_MASKS)),
        ("label", pa.string()),
        ("label_id", pa.int32()),
        ("split", pa.string()),
        ("caption", pa.string()),
        ("captions", pa.list_(pa.string())),
        ("meta", pa.string()),
        ("shard", pa.string()),  # path of the tar relative to the corpus folder
        ("unit", pa.string()),
        # provenance in a mixed corpus: the corpus folder and key the clip was copied from
        ("origin_corpus", pa.string()),
        ("origin_key", pa.string()),
        # mean gray-level change (0-255) between frames 0.25 s apart; near 0 for still pictures
        ("motion", pa.float32()),
        # --split shots: the shot the clip lies in (after merging short shots), seconds in the video
        ("shot_start_s", pa.float64()),
        ("shot_end_s", pa.float64()),
        ("media", pa.string()),  # video | image; null (a version-1 corpus) is video
        # quality signals (manifests/quality.py says what each means and its scale)
        ("sharpness", pa.float32()),
        ("frozen", pa.float32()),
        ("bars", pa.float32()),
        ("overlay", pa.float32()),
    ]
)

# Columns added after version 1 was first written: a part without them reads them as nulls.
ADDED_COLUMNS: dict[str, set[str]] = {"clips": {"motion", "shot_start_s", "shot_end_s", "captions", "media",
                                                "sharpness", "frozen", "bars", "overlay", "signature_views",
                                                "signature_masked", "source_fps"},
                                      "videos": {"captions"}, "dedup": {"cluster", "similarity"},
                                      "rejects": {"preview"}}

SHARDS = pa.schema(
    [
        ("shard", pa.string()),
        ("unit", pa.string()),
        ("clips", pa.int32()),
        ("bytes", pa.int64()),
        ("sha256", pa.string()),
    ]
)

DEDUP = pa.schema(
    [
        ("clip_key", pa.string()),  # the video_id on a plan-only corpus
        ("video_id", pa.string()),
        ("keep", pa.bool_()),
        ("reason", pa.string()),  # exact | near | exact_id | leak_id | leak_near | semantic | leak_semantic
        ("duplicate_of", pa.string()),  # the kept clip (or evaluation clip / video id of a leak)
        ("duplicate_corpus", pa.string()),  # the corpus folder holding duplicate_of
        ("distance", pa.int32()),  # bits between signatures (exact, near, leak_near)
        ("cluster", pa.int32()),  # --embeddings: the clip's K-means cluster (recipes may cap clips per cluster)
        ("similarity", pa.float32()),  # --embeddings: cosine to duplicate_of (semantic, leak_semantic)
    ]
)

# What a build's filters kept out: one row per clip (or per input row, for filters on rows before
# download), with the filter's reason; a row whose every clip was kept out is `skipped` in videos/.
REJECTS = pa.schema(
    [
        ("clip_key", pa.string()),  # null for a row dropped before download
        ("video_id", pa.string()),
        ("row", pa.int64()),
        ("source", pa.string()),
        ("start_s", pa.float64()),
        ("end_s", pa.float64()),
        ("filter", pa.string()),  # the filter step's name
        ("reason", pa.string()),  # a short stable word: blurry, frozen, letterboxed, overlaid, too_still, ...
        ("detail", pa.string()),  # the measured value against the threshold
        ("unit", pa.string()),
        # a contact sheet (JPEG) of a dropped clip, for the first few of each reason in a unit: the
        # clip's file is gone, and the report and the viewer show what the filter threw away
        ("preview", pa.binary()),
    ]
)

TABLES: dict[str, pa.Schema] = {"videos": VIDEOS, "clips": CLIPS, "shards": SHARDS, "dedup": DEDUP,
                                "rejects": REJECTS}


def with_version(schema: pa.Schema, table: str) -> pa.Schema:
    """The schema with its table name and version in the metadata, as written to every part."""
    return schema.with_metadata({VERSION_KEY: f"{table}/{SCHEMA_VERSION}".encode()})
