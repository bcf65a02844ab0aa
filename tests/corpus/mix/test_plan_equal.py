"""The mix planner over columns (corpus/mix/plan.py + gather.py) gives the plans of the planner it
replaced (row_planner.py, a dict per clip): the same clips chosen, keys, interleaving, units,
accounting, report and digest, on tables that exercise every branch (dedup drops, quality
thresholds, cluster caps, repeats, keys two inputs share, keys too long for a member name,
images among videos, tables in several parts and dedup verdicts out of order)."""

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpus.mix.gather import accounting, source_tars, unit_file, write_units
from corpus.mix.keys import key_hashes, unique_keys
from corpus.mix.plan import plan_mix, source
from manifests.layout import CorpusLayout
from manifests.recipe import load_recipe, parse_recipe
from manifests.sample import fit_key
from manifests.tables import write_atomic_bytes, write_part
from tests.corpus.mix import row_planner

SHARD_BYTES = 200_000


def write_corpus(root, name: str, n: int, seed: int, labeled: bool) -> None:
    """Tables of a corpus of `n` clips (no tars: planning reads tables), in three parts."""
    rng = np.random.default_rng(seed)
    layout = CorpusLayout.at(root)
    rows = []
    for i in range(n):
        key = f"{name}_v{i:06d}_000000000_000002000"
        if i % 10 == 3:  # the same key in every input: the later clips become KEY-c, KEY-c-c, ...
            key = f"shared_v{i:06d}_000000000_000002000"
        if i == 5:  # a source key that an earlier clip's renamed key takes first
            key = "shared_v000003_000000000_000002000-c"
        if i == 7:
            key = "long_" + "x" * 120
        rows.append({"clip_key": key, "video_id": f"v{i}", "source": name, "row": i, "start_s": 0.0,
                     "end_s": 2.0, "duration_s": 2.0, "fps": 25.0, "source_fps": 25.0, "frames": 50, "width": 96,
                     "height": 64, "bytes": int(rng.integers(1_000, 50_000)), "sha256": f"{i:064x}",
                     "signature": rng.integers(0, 2**63, 8).tolist(),
                     "signature_views": rng.integers(0, 2**63, 88).tolist(),
                     "signature_masked": rng.integers(0, 2**63, 16).tolist(), "split": "train",
                     "caption": f"clip {i} of {name}", "captions": [f"clip {i}", f"of {name}"],
                     "label": f"class{i % 4}" if labeled else None, "label_id": i % 4 if labeled else None,
                     "media": "image" if i % 9 == 0 else "video", "shard": f"tars/u{i // 50:06d}-0000.tar",
                     "unit": f"u{i // 50:06d}", "motion": float(rng.random() * 4), "sharpness": float(rng.random() * 9),
                     "frozen": float(rng.random()), "bars": 0.0, "overlay": 0.0})
    for k, part in enumerate(np.array_split(np.arange(n), 3)):
        write_part(layout.part("clips", f"p{k}"), "clips", [rows[i] for i in part])
    verdicts = [{"clip_key": r["clip_key"], "video_id": r["video_id"], "keep": bool(rng.random() > 0.08),
                 "cluster": int(rng.integers(0, 12)) if i % 5 else None} for i, r in enumerate(rows)]
    for v in verdicts:
        v["reason"] = None if v["keep"] else "near"
    if seed % 2:  # dedup's rows in another order than clips/: matched by key
        verdicts = verdicts[::-1]
    write_part(layout.part("dedup", "all"), "dedup", verdicts)
    write_atomic_bytes(layout.build_json, b'{"tool": "vmae", "state": "complete"}')


def compare(recipe, inputs: dict, scale: float, seed: int, labeled: bool, tmp_path) -> None:
    old_pool = {n: row_planner.candidates(n, root) for n, root in inputs.items()}
    old = row_planner.plan_mix(recipe, old_pool, scale, seed, labeled, SHARD_BYTES)
    pool = {n: source(n, root, recipe) for n, root in inputs.items()}
    new = plan_mix(recipe, pool, scale, seed, SHARD_BYTES)
    assert new.units == old.units and new.report == old.report
    folder = tmp_path / "units"
    write_units(new, pool, source_tars(new, pool), folder, labeled, set())
    clips = [c for u in new.units for c in pq.read_table(unit_file(folder, u)).to_pylist()]
    assert len(clips) == len(old.clips)
    for mine, theirs in zip(clips, old.clips, strict=True):
        assert mine == theirs
    videos = pa.concat_tables(accounting(new, pool, recipe)).to_pylist()
    assert len(videos) == len(old.accounting)
    for mine, theirs in zip(videos, old.accounting, strict=True):
        assert {k: mine[k] for k in theirs} == theirs
        assert all(v is None for k, v in mine.items() if k not in theirs)
    return clips, videos


@pytest.mark.parametrize("name", ["unlabeled_hybrid", "labeled_hybrid", "umt_5m", "umt_17m", "umt_25m"])
def test_builtin_recipes_plan_as_before(tmp_path, name):
    recipe = load_recipe(name)
    scale = 900 / sum(recipe.quotas.values())
    inputs = {}
    for k, (source_name, quota) in enumerate(recipe.scaled(scale).items()):
        inputs[source_name] = tmp_path / source_name
        # one source short of its quota (a shortfall), the others with spare clips
        write_corpus(inputs[source_name], source_name, max(8, int(quota * (0.7 if k == 1 else 1.3))), k,
                     recipe.keep_labels)
    clips, _ = compare(recipe, inputs, scale, seed=3, labeled=recipe.keep_labels, tmp_path=tmp_path)
    keys = [c["clip_key"] for c in clips]
    # the branches were taken: keys renamed for a clash (three inputs or more: twice), images
    assert any(k.endswith("-c-c" if len(inputs) > 2 else "-c") for k in keys) or len(inputs) == 1
    assert {c["media"] for c in clips} == {"image", "video"}


@pytest.mark.parametrize("spec", [
    {"repeat": True, "sources": {"a": {"quota": 500}, "b": {"quota": 90}}},
    {"min_motion": 1.0, "max_frozen": 0.7, "max_per_cluster": 3,
     "sources": {"a": {"quota": 100, "min_sharpness": 3.0}, "b": {"quota": 60}}},
    {"total": 300, "repeat": True, "max_per_cluster": 4, "sources": {"a": {"weight": 2}, "b": {"weight": 1}}},
])
def test_recipe_options_plan_as_before(tmp_path, spec):
    inputs = {"a": tmp_path / "a", "b": tmp_path / "b"}
    write_corpus(inputs["a"], "a", 240, 0, False)
    write_corpus(inputs["b"], "b", 130, 1, False)
    for seed in (0, 1):
        clips, videos = compare(parse_recipe(spec, "r.yaml"), inputs, 1.0, seed, False, tmp_path / str(seed))
        if spec.get("repeat") and "max_per_cluster" not in spec:  # every usable clip is used: the long key, shortened
            assert any(c["clip_key"].startswith("long_x") and "-k" in c["clip_key"] for c in clips)
        kinds = {v["error_kind"] for v in videos}
        assert "duplicate" in kinds
        if "min_motion" in spec:
            assert {"too_still", "frozen", "blurry"} <= kinds
        if "max_per_cluster" in spec:
            assert "cluster_cap" in kinds


def sequential(keys: list[str]) -> list[str]:
    """Renaming clip by clip, as the row planner does."""
    seen, out = set(), []
    for key in keys:
        while key in seen:
            key = fit_key(key, "-c")
        seen.add(key)
        out.append(key)
    return out


def test_unique_keys_rename_as_clip_by_clip():
    rng = np.random.default_rng(0)
    for _ in range(200):
        keys = [rng.choice(["a", "b", "a-c", "a-c-c", "b-c", "x" * 95, "x" * 93 + "-c"])
                for _ in range(rng.integers(1, 12))]
        hashes = key_hashes(pa.array(keys))
        renamed = unique_keys(hashes, lambda at, keys=keys: [keys[i] for i in at])
        assert [renamed.get(i, k) for i, k in enumerate(keys)] == sequential(keys)


def test_key_hashes_are_equal_exactly_for_equal_keys():
    keys = ["", "a", "ab", "ba", "a" * 300, "é", "\x00", "\x00\x00", *[hashlib.md5(str(i).encode()).hexdigest()
                                                                        for i in range(2000)]]
    chunked = pa.chunked_array([pa.array(keys[:5]), pa.array(keys[5:])])
    hashes = key_hashes(chunked)
    assert len(set(hashes.tolist())) == len(keys)
    assert (key_hashes(pa.array(keys[3:9])) == hashes[3:9]).all()  # a slice hashes as the whole does
