"""Dedup on real corpora built from videos the tests make: exact copies, near duplicates
(re-encodes, rescales, brightness, letterbox, time shifts, a corner crop, a logo), leaks against evaluation corpora,
plan-only corpora, and the keep rule."""

import itertools
import json

import ffmpeg
import numpy as np
import pandas as pd
import pytest

from corpus.build import build
from corpus.config import configure_build
from corpus.dedup import mih
from corpus.dedup.mih import brute_force_pairs, cross_pairs, near_pairs, search_bands
from corpus.dedup.pairs import Signed, distance
from corpus.dedup.run import DEFAULT_THRESHOLD, dedup
from corpus.dedup.spill import removed, shipped
from corpus.dedup.units import load_items, read_signatures
from corpus.errors import InputError
from corpus.executors import local_executor
from corpus.media.signature import SIGNATURE_VERSION
from corpus.options import BuildOptions
from corpus.synthetic import make_video
from corpus.synthetic_tables import make_corpus_tables
from tests.helpers import build_corpus

ALTERATIONS = {
    "reencode": {"crf": 38},
    "rescale": {"vf": "scale=192:108"},
    "brighter": {"vf": "eq=brightness=0.08:contrast=1.15"},
    "letterbox": {"vf": "scale=320:128,pad=320:180:0:26"},
    "shifted": {"ss": 0.3},
    # found through the views and the masks, not the whole frame
    "corner_crop": {"vf": "crop=iw*0.9:ih*0.9:0:0"},
    "logo": {"vf": "drawbox=x=iw*0.8:y=ih*0.05:w=iw*0.15:h=ih*0.12:color=white:t=fill"},
}


def altered(src, dest, ss=None, **out):
    ffmpeg.input(str(src), **({"ss": ss} if ss else {})).output(
        str(dest), vcodec="libx264", preset="veryfast", pix_fmt="yuv420p", **({"crf": 26} | out)
    ).overwrite_output().run(quiet=True)


@pytest.fixture(scope="module")
def near_set(tmp_path_factory):
    """Four different scenes, each with five altered copies, built as one movies corpus."""
    d = tmp_path_factory.mktemp("near")
    for s in range(4):
        orig = make_video(d / "src" / f"s{s}.mp4", pattern=f"scene{s + 10}", seconds=3.3, width=320, height=180,
                          fps=20, crf=20)
        for name, alt in ALTERATIONS.items():
            altered(orig, d / "src" / f"s{s}_{name}.mp4", **alt)
    build_corpus(d / "c", "movies", [d / "src"], clip={"clip_seconds": 3, "short_side": 128}, workers=2)
    return d / "c"


def test_near_duplicates_found_and_different_videos_kept(near_set):
    (result,) = dedup([near_set])
    d = pd.read_parquet(near_set / "dedup").set_index("video_id")
    kept = d[d.keep]
    assert sorted(v.split("_")[0] for v in kept.index) == ["s0", "s1", "s2", "s3"]  # one per scene
    for v, row in d[~d.keep].iterrows():
        assert row.reason == "near" and row.duplicate_of.split("_")[1].split("_")[0] == v.split("_")[0]
        assert row.distance <= DEFAULT_THRESHOLD
    assert result.dropped == {"near": 4 * len(ALTERATIONS)}
    # the exact search (--exact) gives the same verdicts on these real copies
    dedup([near_set], exact=True)
    pd.testing.assert_frame_equal(pd.read_parquet(near_set / "dedup").set_index("video_id"), d)


def test_signature_distances_separate_copies_from_other_videos(near_set):
    items, (mains, views, masked) = load_items(near_set), read_signatures(near_set)
    signed = Signed.of(np.arange(len(items.frame)), mains, views, masked)
    n = len(items.frame)
    i, j = (a.ravel() for a in np.meshgrid(np.arange(n), np.arange(n), indexing="ij"))
    dist = distance(signed, i, j).reshape(n, n)
    whole = np.bitwise_count(mains[:, None] ^ mains[None]).sum(-1)
    video = items.frame["video_id"]
    scene = video.str.split("_").str[0].to_numpy()
    original = (video == video.str.split("_").str[0]).to_numpy()
    copies = scene[:, None] == scene[original][None]
    assert dist[:, original][copies].max() <= DEFAULT_THRESHOLD  # every copy is near its original
    assert dist[scene[:, None] != scene[None]].min() > 2 * DEFAULT_THRESHOLD  # other videos are far
    # the crop and the logo are found through the views and masks: the whole frame alone misses some
    of_scene = {scene[k]: k for k in np.flatnonzero(original)}
    for kind in ("corner_crop", "logo"):
        mine = np.flatnonzero(video.str.endswith(kind).to_numpy())
        assert max(whole[k, of_scene[scene[k]]] for k in mine) > DEFAULT_THRESHOLD, kind


def test_exact_copies_across_corpora_keep_exactly_one_and_prefer_labels(tmp_path, videos):
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        for k in range(3):  # three copies of the same file in each corpus
            (tmp_path / name / f"copy{k}.mp4").write_bytes((videos / "a.mp4").read_bytes())
    build_corpus(tmp_path / "c1", "movies", [tmp_path / "one"], clip={"clip_seconds": 3})
    ann = tmp_path / "k.csv"
    ann.write_text("label,youtube_id,time_start,time_end,split\nwaving,copy0_00000,0,3,train\n")
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "copy0_00000_000000_000003.mp4").write_bytes((videos / "a.mp4").read_bytes())
    build_corpus(tmp_path / "c2", "kinetics", [ann], source_options={"mirror": str(tmp_path / "mirror")})
    stale = tmp_path / "c1" / ".dedup-spill-killed"  # signatures a killed dedup left for its workers
    stale.mkdir()
    (stale / "array-0.npy").write_bytes(b"\0" * 1024)
    r1, r2 = dedup([tmp_path / "c1", tmp_path / "c2"])
    assert not stale.exists()
    d1, d2 = pd.read_parquet(tmp_path / "c1" / "dedup"), pd.read_parquet(tmp_path / "c2" / "dedup")
    assert d2.keep.all()  # the labeled copy wins
    assert (~d1.keep).all() and set(d1.reason) == {"exact"} and (d1.distance == 0).all()
    assert set(d1.duplicate_of) == set(d2.clip_key) and set(d1.duplicate_corpus) == {str(tmp_path / "c2")}


def test_leaks_against_an_evaluation_corpus(tmp_path, near_set):
    # the evaluation set: a re-encode of scene 0 under another id, and scene 1's own video id
    altered(next((near_set / "..").glob("src/s0.mp4")), tmp_path / "held_out.mp4", crf=33)
    build_corpus(tmp_path / "eval", "movies", [tmp_path / "held_out.mp4"], clip={"clip_seconds": 3})
    ids = tmp_path / "ids.csv"
    ids.write_text("label,youtube_id,time_start,time_end,split\nx,s1,0,3,test\n")
    build(BuildOptions(source="kinetics", inputs=(str(ids),), out=str(tmp_path / "eval_ids")), plan_only=True,
          progress=False)
    dedup([near_set], against=[tmp_path / "eval", tmp_path / "eval_ids"])
    d = pd.read_parquet(near_set / "dedup").set_index("video_id")
    assert d.loc["s1", "reason"] == "leak_id"
    leaked = d[d.reason == "leak_near"]
    assert set(leaked.index.str.split("_").str[0]) == {"s0"} and len(leaked) == 1 + len(ALTERATIONS)
    assert (leaked.duplicate_of.str.contains("held_out")).all()


def test_plan_only_dedup_drops_videos_before_download(tmp_path, kinetics_data):
    k400 = tmp_path / "k400"
    build(configure_build({"source": "kinetics", "inputs": [kinetics_data / "kinetics-400_val.csv"], "out": k400,
                           "unit_size": 5000, "url_template": "http://127.0.0.1:9/{youtube_id}.mp4"}),
          plan_only=True, progress=False)
    build(configure_build({"source": "kinetics", "inputs": [kinetics_data / "kinetics-600_test.csv"],
                           "out": tmp_path / "k600test", "unit_size": 10000}), plan_only=True, progress=False)
    (r,) = dedup([k400], against=[tmp_path / "k600test"])
    assert r.dropped == {"leak_id": 450}  # K400 val videos that are K600 test videos
    d = pd.read_parquet(k400 / "dedup")
    assert len(d) == 19906 and (d.clip_key == d.video_id).all()
    # a later build skips them (nothing fetched: they are skipped before the fetch)
    from corpus.dedup.apply import skip_deduplicated
    from manifests.layout import CorpusLayout
    assert skip_deduplicated(CorpusLayout.at(k400)) == 450
    videos = pd.read_parquet(k400 / "videos")
    assert (videos.error_kind == "leak").sum() == 450 and (videos.status == "pending").sum() == 19906 - 450


def test_plan_only_duplicates_across_sources_by_id(tmp_path, server):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("label,youtube_id,time_start,time_end,split\nx,vid00000001,0,3,train\ny,vid00000002,0,3,train\n")
    # a row that fails at planning sits between two planned ones: only those two are items
    b.write_text("videoid,url\nvid00000002,http://127.0.0.1:9/v.mp4\nbad,file:///etc/passwd\n"
                 "vid00000003,http://127.0.0.1:9/w.mp4\n")
    for src, f in (("kinetics", a), ("web", b)):
        build(BuildOptions(source=src, inputs=(str(f),), out=str(tmp_path / src)), plan_only=True, progress=False)
    dedup([tmp_path / "kinetics", tmp_path / "web"])
    web = pd.read_parquet(tmp_path / "web" / "dedup").set_index("video_id")
    assert sorted(web.index) == ["vid00000002", "vid00000003"]
    assert web.loc["vid00000002", "reason"] == "exact_id" and web.loc["vid00000003", "keep"]
    assert pd.read_parquet(tmp_path / "kinetics" / "dedup").keep.all()  # labeled wins


def _planted_signatures(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """4000 random signatures with 300 near copies planted, 30 absent (all zero); and 500 queries
    near some of them, 10 absent."""
    sig = rng.integers(0, 2**63, size=(4000, 8), dtype=np.uint64)
    for _ in range(300):  # planted near copies
        i, j = rng.integers(len(sig), size=2)
        sig[j] = sig[i] ^ (rng.random((8, 64)) < rng.uniform(0, 0.12)).astype(np.uint64).dot(
            np.uint64(1) << np.arange(64, dtype=np.uint64))
    sig[:30] = 0  # items without a signature: equal to each other, absent as queries
    queries = sig[rng.choice(len(sig), 500)] ^ (rng.random((500, 8, 64)) < 0.06).astype(np.uint64).dot(
        np.uint64(1) << np.arange(64, dtype=np.uint64))
    queries[:10] = 0
    return sig, queries


def test_mih_is_exact_against_all_pairs(tmp_path):
    sig, queries = _planted_signatures(np.random.default_rng(1))
    every = np.bitwise_count(sig[:, None] ^ queries[None]).sum(-1)
    every[:, :10] = 512
    on_disk = shipped(sig, tmp_path), shipped(queries, tmp_path)
    truth = {t: brute_force_pairs(sig, t) for t in (0, 12, 40, 70)}
    # in memory or read from files a block at a time; the index whole or in parts (as a corpus
    # larger than a worker should sort at once is searched)
    for (index, asked), part_rows in itertools.product(((sig, queries), on_disk), (None, 700, 64)):
        for t, pairs in truth.items() if index is sig and part_rows is None else [(40, truth[40])]:
            a, b, _ = near_pairs(index, t, part_rows=part_rows, exact=True)
            assert set(zip(a.tolist(), b.tolist(), strict=True)) == pairs
        # between two sets (crops against whole frames): the same pairs as comparing every one
        i, q, d = cross_pairs(index, asked, 40, skip_absent=True, part_rows=part_rows, exact=True)
        assert set(zip(i.tolist(), q.tolist(), strict=True)) == set(zip(*np.nonzero(every <= 40), strict=True))
        assert (d == every[i, q]).all() and len(i) >= 400
    removed(*on_disk)
    # chunks searched in two worker processes, which map the signatures from a file: the same pairs
    # and distances, each chunk once, and the file removed after
    serial, chunks = near_pairs(sig, 40, exact=True), []
    parallel = near_pairs(sig, 40, local_executor(2), on_chunk=lambda: chunks.append(1), spill=tmp_path, exact=True)
    assert all(np.array_equal(x, y) for x, y in zip(serial, parallel, strict=True)) and len(serial[0]) >= 100
    assert len(chunks) == len(search_bands(512, 40, len(sig), exact=True)[0]) and not any(tmp_path.iterdir())


@pytest.mark.parametrize("table_bits", [mih.TABLE_BITS, 9])
def test_sampled_bands_find_the_close_pairs_and_no_far_ones(tmp_path, monkeypatch, table_bits):
    """The default search samples bits: every pair it reports is within the threshold at its true
    distance, pairs well inside the threshold are all found, and few at the edge are missed. With a
    table narrower than the keys (as at hundreds of millions of rows) and the index in parts, the
    same pairs."""
    monkeypatch.setattr(mih, "TABLE_BITS", table_bits)
    sig, queries = _planted_signatures(np.random.default_rng(1))
    every = np.bitwise_count(sig[:, None] ^ queries[None]).sum(-1)
    every[:, :10] = 512
    truth = brute_force_pairs(sig, 40)
    within = {(a, b): int(np.bitwise_count(sig[a] ^ sig[b]).sum()) for a, b in truth}
    for part_rows in (None, 700):
        a, b, d = near_pairs(sig, 40, part_rows=part_rows)
        found = set(zip(a.tolist(), b.tolist(), strict=True))
        assert found <= truth and all(within[x, y] == e for x, y, e in zip(a.tolist(), b.tolist(), d.tolist(),
                                                                          strict=True))
        assert {p for p, x in within.items() if x <= 30} <= found and len(found) >= 0.99 * len(truth)
        i, q, d = cross_pairs(sig, queries, 40, skip_absent=True, part_rows=part_rows)
        assert (d == every[i, q]).all() and (d <= 40).all()
        close = set(zip(*np.nonzero(every <= 30), strict=True))
        assert close <= set(zip(i.tolist(), q.tolist(), strict=True)) and len(i) >= 0.99 * (every <= 40).sum()
    # an item's own views (query q of index row q // 5) are never paired with it, other pairs are
    views = np.repeat(sig[:400], 5, axis=0)
    every_pair = set(zip(*cross_pairs(sig[:400], views, 40, skip_absent=True)[:2], strict=True))
    not_own = set(zip(*cross_pairs(sig[:400], views, 40, skip_absent=True, group=5)[:2], strict=True))
    assert not_own == {(i, q) for i, q in every_pair if i != q // 5} and not_own


def test_bad_input(tmp_path, movie_dir):
    with pytest.raises(InputError, match="at least one corpus"):
        dedup([])
    with pytest.raises(InputError, match="between 0 and 511"):
        dedup([tmp_path], threshold=600)
    build(BuildOptions(source="web", inputs=(str(_empty_list(tmp_path)),), out=str(tmp_path / "e")), progress=False)
    with pytest.raises(InputError, match="nothing to deduplicate"):
        dedup([tmp_path / "e"])


def _empty_list(tmp_path):
    f = tmp_path / "l.csv"
    f.write_text("url\nftp://127.0.0.1/x.mp4\n")  # one row, failed at plan time
    return f


def test_signatures_of_another_version_are_refused(tmp_path, near_set):
    """A corpus built before signatures were versioned holds version 1: its distances to this
    version's signatures mean nothing, so dedup says so instead of deciding on them."""
    old = tmp_path / "old"
    build_corpus(old, "movies", [next((near_set / "..").glob("src/s0.mp4"))], clip={"clip_seconds": 3})
    doc = json.loads((old / "build.json").read_text())
    del doc["signature_version"]
    (old / "build.json").write_text(json.dumps(doc))
    with pytest.raises(InputError, match=rf"different ways \(.*c: version {SIGNATURE_VERSION}, .*old: version 1\)"):
        dedup([near_set], against=[old])


def test_dedup_searching_in_parts_gives_the_same_verdicts(tmp_path, monkeypatch):
    """A corpus larger than a worker sorts at once is searched in parts of its index (forced small
    here): the same verdicts as searching it whole, in one process or in two."""
    roots = [tmp_path / "web", tmp_path / "youtube"]
    for k, root in enumerate(roots):
        make_corpus_tables(root, root.name, 5000, k)  # random signatures, 2% of them near copies

    def verdicts(**kw) -> pd.DataFrame:
        dedup(roots, **kw)
        return pd.concat([pd.read_parquet(r / "dedup") for r in roots], ignore_index=True)

    whole = verdicts()
    assert (whole["reason"] == "near").sum() >= 0.015 * len(whole)  # the planted copies are found
    monkeypatch.setattr(mih, "PART_ROWS", 1500)  # 8 parts of the 10,000 clips' index
    pd.testing.assert_frame_equal(verdicts(), whole)
    pd.testing.assert_frame_equal(verdicts(executor=local_executor(2)), whole)
    assert not list(roots[0].glob(".dedup-spill-*"))  # the signatures' files are gone
