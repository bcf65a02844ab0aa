"""Semantic dedup in bounded memory: 300k clips' 512-wide embeddings (614 MB as float32) searched
under an address-space cap too small to hold them whole, as the pass it replaced did."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tests.hostile.limits import run_limited

CLIPS, WIDTH, COPIES = 300_000, 512, 2_000
HEADROOM_GB = 0.4  # the pass takes about 0.14 GB more address space; the embeddings whole, 0.61

_ITEMS = ("import pathlib\nimport numpy as np, pandas as pd\n"
          "from corpus.dedup import semantic\n"
          "from corpus.dedup.by_embedding import SemanticOptions, semantic_pass\n"
          f"keys = [f'c{{i:07d}}' for i in range({CLIPS})]\n"
          "items = pd.DataFrame({'key': keys, 'video_id': keys, 'corpus': 'c', 'corpus_order': 0, 'labeled': False, "
          "'pixels': 0, 'keep': True, 'reason': None, 'duplicate_of': None, 'duplicate_corpus': None, "
          "'distance': pd.array([None] * len(keys), 'Int32'), 'cluster': pd.array([None] * len(keys), 'Int32'), "
          "'similarity': np.nan})\n")


def test_semantic_dedup_of_embeddings_larger_than_its_cap(tmp_path):
    rng = np.random.default_rng(0)
    keys = [f"c{i:07d}" for i in range(CLIPS)]
    with pq.ParquetWriter(tmp_path / "e.parquet", pa.schema([("clip_key", pa.string()),
                                                            ("embedding", pa.list_(pa.float16(), WIDTH))])) as out:
        for s in range(0, CLIPS, 16_384):  # row groups of 16 MB: a row group is read whole
            x = rng.normal(size=(min(16_384, CLIPS - s), WIDTH)).astype(np.float16)
            if s == 0:  # the first COPIES rows: near copies of the next ones
                x[:COPIES] = x[COPIES : 2 * COPIES] + np.float16(0.05) * x[:COPIES]
            out.write_table(pa.table({"clip_key": keys[s : s + len(x)], "embedding": pa.FixedSizeListArray.from_arrays(
                pa.array(x.ravel()), WIDTH)}))
    # the cap: the address space taken once the items are in a frame (pandas' and Arrow's pools
    # reserve a GB there), plus the headroom
    probe = run_limited(_ITEMS + "print(open('/proc/self/status').read().split('VmPeak:')[1].split()[0])", 64)
    assert probe.returncode == 0, probe.stderr[-2000:]
    cap = int(probe.stdout.split()[-1]) / 1024**2 + HEADROOM_GB  # VmPeak is in kB
    whole = run_limited(_ITEMS + f"x = np.ones(({CLIPS}, {WIDTH}), np.float32)\nprint(x.sum())", cap)
    assert whole.returncode != 0 and "MemoryError" in whole.stderr  # the embeddings whole do not fit
    found = run_limited(
        _ITEMS + "semantic._SAMPLE = 10_000  # a quicker K-means (the sample is not what is measured)\n"
        f"opts = SemanticOptions(({str(tmp_path / 'e.parquet')!r},), similarity=0.95, "
        f"plot={str(tmp_path / 'p.png')!r})\n"
        f"embedded, _ = semantic_pass(items, pd.DataFrame(columns=['key', 'corpus']), opts, None, "
        f"pathlib.Path({str(tmp_path)!r}))\n"
        "print(embedded, (items.reason == 'semantic').sum(), items.cluster.notna().sum())", cap, timeout=300)
    assert found.returncode == 0, found.stderr[-2000:]
    embedded, semantic, clustered = map(int, found.stdout.split()[-3:])
    assert embedded == clustered == CLIPS
    assert 0.9 * COPIES <= semantic <= COPIES  # a planted copy shares its original's cluster, mostly
    assert not list(tmp_path.glob("array-*"))  # the buckets' files are removed
