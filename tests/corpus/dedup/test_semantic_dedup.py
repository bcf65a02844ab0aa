"""Semantic dedup from clip embeddings (the Parquet 'vmae embed' writes): planted duplicates in
embedding space are dropped as semantic with the keep rule, a clip close to an evaluation clip
as leak_semantic, every embedded clip gets its cluster, and a recipe can cap clips per cluster."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpus.dedup.by_embedding import SemanticOptions
from corpus.dedup.run import dedup
from corpus.errors import InputError
from corpus.synthetic import make_video
from tests.helpers import build_corpus, check_corpus


def write_embeddings(path, keys, values) -> str:
    values = np.asarray(values, np.float32)
    pq.write_table(pa.table({"clip_key": keys, "embedding": pa.FixedSizeListArray.from_arrays(
        pa.array(values.ravel()), values.shape[1])}), path)
    return str(path)


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """Eight different videos (two 1 s clips each) and an evaluation corpus of one more."""
    d = tmp_path_factory.mktemp("semantic")
    for k in range(8):
        make_video(d / "src" / f"v{k}.mp4", pattern=f"scene{k + 30}", seconds=2.1, width=160, height=96)
    make_video(d / "held" / "e0.mp4", pattern="scene50", seconds=1.1, width=160, height=96)
    build_corpus(d / "train", "movies", [d / "src"], clip={"clip_seconds": 1.0})
    build_corpus(d / "eval", "movies", [d / "held"], clip={"clip_seconds": 1.0})
    return d


def planted(d, rng) -> tuple[str, dict]:
    """Random directions for every clip; v1's clips made near copies of v0's (cos ≈ 0.99) and v5's
    first clip a near copy of the evaluation clip."""
    train = pd.read_parquet(d / "train" / "clips").sort_values("clip_key")
    held = pd.read_parquet(d / "eval" / "clips")
    keys = list(train.clip_key) + list(held.clip_key)
    x = rng.normal(size=(len(keys), 32))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    at = {k: i for i, k in enumerate(keys)}
    v0, v1 = train[train.video_id == "v0"].clip_key.tolist(), train[train.video_id == "v1"].clip_key.tolist()
    for a, b in zip(v0, v1, strict=True):
        x[at[b]] = x[at[a]] + 0.1 * rng.normal(size=32) / np.sqrt(32)
    v5 = train[train.video_id == "v5"].clip_key.iloc[0]
    x[at[v5]] = x[at[held.clip_key.iloc[0]]] + 0.1 * rng.normal(size=32) / np.sqrt(32)
    return write_embeddings(d / "emb.parquet", keys, x), {"v1": v1, "v5": v5, "v0": v0}


def test_semantic_duplicates_and_leaks_by_embedding(tmp_path, corpora):
    emb, plant = planted(corpora, np.random.default_rng(0))
    plot = tmp_path / "sim.png"
    (result,) = dedup([corpora / "train"], against=[corpora / "eval"],
                      semantic=SemanticOptions((emb,), similarity=0.95, clusters=3, plot=str(plot)))
    d = pd.read_parquet(corpora / "train" / "dedup").set_index("clip_key")
    assert result.dropped == {"semantic": 2, "leak_semantic": 1} and result.embedded == 16
    for copy, original in zip(plant["v1"], plant["v0"], strict=True):
        # equal preference otherwise: the smaller key (v0's) is kept
        assert d.loc[copy, "reason"] == "semantic" and d.loc[copy, "duplicate_of"] == original
        assert d.loc[copy, "similarity"] > 0.95
    assert d.loc[plant["v5"], "reason"] == "leak_semantic" and d.loc[plant["v5"], "duplicate_corpus"] == \
        str(corpora / "eval")
    assert d["cluster"].notna().all() and d["cluster"].nunique() <= 3
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_recipe_caps_the_clips_of_one_cluster(tmp_path, corpora):
    from corpus.mix.run import MixOptions, mix

    emb, _ = planted(corpora, np.random.default_rng(1))
    dedup([corpora / "train"], semantic=SemanticOptions((emb,), similarity=0.95, clusters=2,
                                                        plot=str(tmp_path / "p.png")))
    verdicts = pd.read_parquet(corpora / "train" / "dedup")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("max_per_cluster: 3\nsources:\n  t: {quota: 100}\n")
    summary = mix(MixOptions(recipe=str(recipe), inputs={"t": str(corpora / "train")}, out=str(tmp_path / "m")),
                  progress=False)
    mixed = check_corpus(tmp_path / "m")
    cluster = verdicts.set_index("clip_key")["cluster"]
    assert cluster[mixed.origin_key].value_counts().max() == 3 and len(mixed) == 6  # two clusters, three each
    kept = verdicts.keep.sum()
    assert summary["mix"]["t"]["kept_out"] == {"cluster_cap": kept - 6}


def test_embedding_files_are_checked(tmp_path, corpora):
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"clip_key": ["a"], "vector": [1.0]}), bad)
    with pytest.raises(InputError, match="clip_key and embedding"):
        dedup([corpora / "train"], semantic=SemanticOptions((str(bad),)))
    # the values are read only once a key matches a clip
    key = pd.read_parquet(corpora / "train" / "clips").clip_key.iloc[0]
    nan = write_embeddings(tmp_path / "nan.parquet", [key, "b"], [[1.0, np.nan], [0.0, 1.0]])
    with pytest.raises(InputError, match="not finite"):
        dedup([corpora / "train"], semantic=SemanticOptions((nan,)))
    twice = write_embeddings(tmp_path / "twice.parquet", ["a", "a"], [[1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(InputError, match="occurs twice"):
        dedup([corpora / "train"], semantic=SemanticOptions((twice,)))
    words = tmp_path / "words.parquet"  # a fixed-size list, of text
    pq.write_table(pa.table({"clip_key": [key], "embedding": pa.array([["x", "y"]], pa.list_(pa.string(), 2))}), words)
    with pytest.raises(InputError, match="words.parquet: cannot be read as clip keys and embeddings"):
        dedup([corpora / "train"], semantic=SemanticOptions((str(words),)))
    narrow = write_embeddings(tmp_path / "narrow.parquet", ["b"], [[1.0, 0.0, 0.0]])
    with pytest.raises(InputError, match="different widths"):
        dedup([corpora / "train"], semantic=SemanticOptions((str(twice), narrow)))
    other = write_embeddings(tmp_path / "other.parquet", ["nobody"], [[1.0, 0.0]])
    with pytest.raises(InputError, match="none of the clips"):
        dedup([corpora / "train"], semantic=SemanticOptions((other,)))


@pytest.mark.parametrize("on_disk", [True, False])
def test_the_bucketed_search_finds_what_comparing_every_pair_of_a_cluster_finds(tmp_path, monkeypatch, on_disk):
    """Embeddings streamed into buckets (files, or arrays for workers elsewhere) a block at a time,
    each cluster compared a few rows at a time: the same pairs, best cosines and leaks as all pairs
    of each cluster compared at once."""
    from corpus.dedup import semantic

    monkeypatch.setattr(semantic, "_SIMILARITIES", 1000)  # a few rows of a cluster at once
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2000, 16)).astype(np.float32)
    x[1000:1300] = x[:300] + 0.05 * rng.normal(size=(300, 16))  # near copies
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    held = x[[5, 1500]] + 0.01 * rng.normal(size=(2, 16)).astype(np.float32)
    held /= np.linalg.norm(held, axis=1, keepdims=True)
    video = np.arange(len(x)) // 2  # two rows a video: never a pair
    centroids = semantic.kmeans(x[semantic.sample_rows(len(x), 16, rng)], 40, rng)
    label = semantic.assign(x, centroids)
    writer = semantic.BucketWriter(semantic.bucket_count(len(x), 16, 40), 16, len(x), tmp_path if on_disk else None)
    for s in range(0, len(x), 300):
        rows = np.arange(s, min(s + 300, len(x)))
        writer.append(x[rows], rows, label[rows], video[rows])
    buckets = writer.done()
    assert len(buckets.x) == 16 and sum(len(b) for b in buckets.x) == len(x)
    found = semantic.search_buckets(buckets, len(x), held, semantic.assign(held, centroids), 0.9)

    stored = x.astype(np.float16).astype(np.float32)  # what the buckets hold
    sim = stored @ stored.T
    sim[(label[:, None] != label[None, :]) | (video[:, None] == video[None, :])] = -1.0
    a, b = np.nonzero(np.triu(sim >= 0.9, 1))
    assert sorted(zip(found.a.tolist(), found.b.tolist(), strict=True)) == \
        sorted(zip(a.tolist(), b.tolist(), strict=True))
    assert len(a) >= 250  # most planted copies share their original's cluster
    np.testing.assert_allclose(found.cosine, sim[found.a, found.b], atol=1e-5)
    np.testing.assert_allclose(found.best, sim.max(axis=1), atol=1e-5)
    leak = stored @ held.T
    leak[label[:, None] != semantic.assign(held, centroids)[None, :]] = -1.0
    assert sorted(found.leaks[:, 0].astype(int).tolist()) == np.flatnonzero(leak.max(axis=1) >= 0.9).tolist()
    np.testing.assert_allclose(buckets.rows_of(label[[7, 1200]] % 16, writer.where[[7, 1200]]), stored[[7, 1200]])
    buckets.removed()
    assert not list(tmp_path.iterdir())
