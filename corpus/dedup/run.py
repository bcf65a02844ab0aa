"""`vmae corpus dedup`: decide, for every clip (or planned video) of the given corpora, whether
it is kept, and why not. Writes DIR/dedup/ for each corpus.

Order of reasons (the first that applies):
  leak_id    its video id occurs in an evaluation corpus (--against)
  leak_near  its signature is within the threshold of an evaluation clip
  exact_id   plan-only: the same video is planned or built in a corpus that wins the keep rule
  exact      same sha256 as the kept copy of its cluster
  near       within the threshold of (a chain of clips leading to) the kept copy; clips cut
             from the same video are never compared with each other

Keep rule inside a cluster of copies, deterministic: labeled before unlabeled, then more
pixels of the source (the larger original), then the corpus given first, then the smaller key.
Exactly one copy is kept.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from corpus.dedup import DEFAULT_THRESHOLD, pairs
from corpus.dedup.by_embedding import SemanticOptions, semantic_pass
from corpus.dedup.mih import cross_pairs, near_pairs, search_bands
from corpus.dedup.pairs import Search, Signed
from corpus.dedup.spill import Shipped, loaded
from corpus.dedup.units import CorpusItems, check_signature_versions, load_items, spill_signatures
from corpus.dedup.verdicts import keepers, mark, preference, same_file, video_keys
from corpus.errors import InputError
from corpus.executors import Executor, local_executor
from corpus.lock import check_finished, reading, writing
from corpus.options import ALLOW_UNFINISHED, ExecutorOptions, Sectioned
from manifests.layout import CorpusLayout
from manifests.options import option
from manifests.tables import from_columns, write_part

_SPILL_PREFIX = ".dedup-spill-"  # DIR/.dedup-spill-*/: the signatures workers map while dedup runs


@dataclass(frozen=True)
class DedupOptions(Sectioned):
    """`vmae corpus dedup`'s settings besides the corpora it deduplicates."""

    against: tuple[str, ...] = option((), "Evaluation corpus (may be plan-only): training clips matching it by video "
                                          "id or signature are dropped as leaks. Repeat for several.")
    threshold: int = option(DEFAULT_THRESHOLD, "Near-duplicate threshold in bits of the 512-bit signature.")
    exact: bool = option(False, "Find every pair within the threshold (multi-index hashing: time grows with the "
                                "square of the corpus past a few million clips) instead of through sampled bits "
                                "(a pair at the threshold missed with probability 1e-3, closer pairs far less).")
    allow_unfinished: bool = option(False, ALLOW_UNFINISHED)
    semantic: SemanticOptions = field(default_factory=SemanticOptions)  # on when it names embeddings
    executor: ExecutorOptions = field(default_factory=ExecutorOptions)
    components: dict[str, Any] = field(default_factory=dict)  # the executor's own options


@dataclass
class DedupResult:
    corpus: Path
    items: int
    dropped: dict[str, int]
    embedded: int = 0  # items that had an embedding (--embeddings)
    plot: Path | None = None  # the similarity distribution's picture (--embeddings)


def _signed(corpora: list[CorpusItems], rows: np.ndarray, spill: Path) -> Signed:
    """The built corpora's signatures, in files in `spill` (memory does not grow with them)."""
    built = [c for c in corpora if not c.plan_only]
    return spill_signatures(built, rows, spill) if built else Signed.empty()


def _eval_index(against: list[CorpusItems], spill: Path) -> tuple[set[str], Signed, list[tuple[str, str]]]:
    ids = {v for a in against for v in a.frame["video_id"]}
    names = [(str(a.root), k) for a in against if not a.plan_only for k in a.frame["key"]]
    return ids, _signed(against, np.arange(len(names)), spill), names


def _all_items(corpora: list[CorpusItems]) -> pd.DataFrame:
    """One frame of every corpus' items. Their own frames are emptied, so that no row is held twice
    while dedup runs (a corpus' frame is only needed until then)."""
    frames, roots = [], list(dict.fromkeys(str(c.root) for c in corpora))
    for order, c in enumerate(corpora):
        f, c.frame = c.frame, c.frame.iloc[:0]
        # a code per row, not the folder's name (25M copies of it were a GB)
        f["corpus"] = pd.Categorical.from_codes(np.full(len(f), roots.index(str(c.root))),
                                                categories=pd.Index(roots, dtype=object))
        f["corpus_order"], f["plan_only"] = order, c.plan_only
        frames.append(f)
    items = pd.concat(frames, ignore_index=True)
    items["keep"], items["reason"], items["duplicate_of"], items["duplicate_corpus"] = True, None, None, None
    items["distance"] = pd.array([None] * len(items), dtype="Int32")
    items["cluster"] = pd.array([None] * len(items), dtype="Int32")
    items["similarity"] = np.nan
    return items


def _searcher(pool: Executor, threshold: int, exact: bool, progress: bool) -> Search:
    """The near-pair search of one dedup run: its bands in worker processes or as Ray tasks
    (the heavy pass: every band sorts and probes every signature), with a progress bar. Workers
    on this machine read the signatures' files; workers elsewhere get the arrays."""
    from tqdm import tqdm

    here = pool.workers_share_this_disk

    def search(sigs: Shipped, what: str, queries: Shipped | None = None, skip_absent: bool = False, group: int = 0):
        bands = len(search_bands(sigs.shape[1] * 64, threshold, len(sigs), exact)[0])
        sigs, queries = (sigs, queries) if here else (loaded(sigs), loaded(queries))
        with tqdm(total=bands, desc=what, unit="band", disable=not progress, file=sys.stderr) as bar:
            if queries is None:
                return near_pairs(sigs, threshold, pool, on_chunk=bar.update, exact=exact)
            return cross_pairs(sigs, queries, threshold, pool, on_chunk=bar.update, skip_absent=skip_absent,
                               exact=exact, group=group)

    return search


def _leaks(items, signed: Signed, eval_ids, held: Signed, eval_names, search: Search) -> None:
    leak_id = items["video_id"].isin(eval_ids) & items["keep"]
    mark(items, leak_id, "leak_id", items.loc[leak_id, "video_id"], None, None)
    if not len(held) or not len(signed):
        return
    a, j, d = pairs.between(search, signed, held, "leak search")
    nearest = np.lexsort((d, a))  # per training item, its closest evaluation clip first
    first = nearest[np.r_[True, a[nearest][1:] != a[nearest][:-1]]] if len(a) else nearest
    rows = signed.rows[a[first]]
    alive = items.loc[rows, "keep"].to_numpy(bool)
    rows, first = rows[alive], first[alive]
    mark(items, rows, "leak_near", [eval_names[k][1] for k in j[first]], [eval_names[k][0] for k in j[first]],
          d[first].astype(int))


def _clusters(items, signed: Signed, search: Search) -> None:
    sig_index = signed.rows
    alive = items.loc[sig_index, "keep"].to_numpy(bool)
    a, b, d = pairs.within(search, signed, "near-duplicate search")
    # Windows of one video are distinct samples by design (a static shot looks alike for
    # minutes); dedup is about copies across videos.
    video = video_keys(items, sig_index)
    ok = alive[a] & alive[b] & (video[a] != video[b])
    a, b, d = a[ok], b[ok], d[ok]
    # identical files are copies even if their signatures were computed apart
    same, sha = same_file(items["file_id"].iloc[sig_index])
    extra = np.flatnonzero((same != np.arange(len(sig_index))) & alive)
    a, b = np.r_[a, same[extra]], np.r_[b, extra]
    n = len(sig_index)
    keeper = keepers(a, b, n, preference(items)[sig_index])
    drop = np.flatnonzero((keeper != np.arange(n)) & alive)
    rows, krows = sig_index[drop], sig_index[keeper[drop]]
    identical = (sha[drop] == sha[keeper[drop]]) & (sha[drop] >= 0)
    distance = pairs.distance(signed, drop, keeper[drop])
    for reason, sel in (("exact", identical), ("near", ~identical)):
        mark(items, rows[sel], reason, items.loc[krows[sel], "key"].to_numpy(),
              items.loc[krows[sel], "corpus"].to_numpy(), distance[sel].astype(int))


def _ids(items: pd.DataFrame) -> None:
    """Plan-only items whose video is also in a corpus that the keep rule prefers."""
    live = items[items["keep"]]
    # only videos present more than once with a plan-only copy among them need a look
    plan_ids = set(live.loc[live["plan_only"], "video_id"])
    live = live[live["video_id"].isin(plan_ids)]
    live = live[live.groupby("video_id")["key"].transform("size") > 1]
    if live.empty:
        return
    rank = preference(items)
    for _, group in live.groupby("video_id"):
        best = group.index[np.argmin(rank[group.index])]
        for row in group.index[(group.index != best) & group["plan_only"].to_numpy()]:
            mark(items, row, "exact_id", items.at[best, "key"], items.at[best, "corpus"], 0)


def dedup(corpora: list[str | Path], against: list[str | Path] = (), threshold: int = DEFAULT_THRESHOLD, *,
          exact: bool = False, executor: Executor | None = None, progress: bool = False, allow_unfinished: bool = False,
          semantic: SemanticOptions | None = None) -> list[DedupResult]:
    """executor: where the near-pair search and the semantic pass's within-cluster search run
    (default: here, in this process); every other step is light and runs here. semantic: also
    drop by embedding (corpus/dedup/by_embedding.py), when it names embeddings. The corpora are held as their writer
    (dedup writes their dedup/), the --against corpora as readers; a corpus whose build stopped
    half-way is refused unless allow_unfinished (a plan-only corpus is finished as planned)."""
    if not corpora:
        raise InputError("give at least one corpus folder to deduplicate")
    if not 0 <= threshold < 512:
        raise InputError(f"--threshold {threshold}: must be between 0 and 511 bits")
    for root in [*corpora, *against]:
        if CorpusLayout.at(root).is_corpus():
            check_finished(root, ("complete", "planned"), allow_unfinished)
    check_signature_versions([*corpora, *against])
    written = {Path(c).resolve() for c in corpora}
    with contextlib.ExitStack() as held:
        for root in sorted(written):
            if CorpusLayout.at(root).is_corpus():
                held.enter_context(writing(root))
        held.enter_context(reading(a for a in against if Path(a).resolve() not in written))
        pool = executor or local_executor(1)
        # the signatures go to files (22 GB at 25M clips), which workers on this machine read; the
        # folder is the first corpus', removed after, and one a killed run left is removed here
        # (this run holds the corpus as its writer)
        for stale in Path(corpora[0]).glob(f"{_SPILL_PREFIX}*"):
            shutil.rmtree(stale, ignore_errors=True)
        spill = Path(held.enter_context(tempfile.TemporaryDirectory(prefix=_SPILL_PREFIX, dir=corpora[0])))
        held.enter_context(_arrow_memory_given_back())
        return _dedup(corpora, against, _searcher(pool, threshold, exact, progress), pool.map,
                      semantic if semantic is not None and semantic.embeddings else None, spill,
                      pool.workers_share_this_disk)


@contextlib.contextmanager
def _arrow_memory_given_back():
    """Arrow allocates from the C library's malloc while dedup runs: its default pool (mimalloc)
    kept the pages of the tables read for the items, about 110 bytes a clip more at 1.48M clips
    (3 GB at 27.5M). The pool before is restored after."""
    before = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(before)


def _dedup(corpora: list[str | Path], against: list[str | Path], search: Search, map_fn,
           semantic: SemanticOptions | None, spill: Path, share_spill: bool) -> list[DedupResult]:
    loaded = [load_items(c) for c in corpora]
    empty = [str(c.root) for c in loaded if c.frame.empty]
    if empty:
        raise InputError(f"nothing to deduplicate in {', '.join(empty)} (no clips and no planned videos)")
    held_out = [load_items(a) for a in against]
    eval_ids, held, eval_names = _eval_index(held_out, spill)
    items = _all_items(loaded)
    signed = _signed(loaded, np.flatnonzero(~items["plan_only"].to_numpy()), spill)
    _leaks(items, signed, eval_ids, held, eval_names, search)
    _ids(items)
    if len(signed.rows):
        _clusters(items, signed, search)
    embedded, plot = 0, None
    if semantic is not None:
        evaluation = pd.DataFrame([(k, str(a.root)) for a in held_out if not a.plan_only for k in a.frame["key"]],
                                  columns=["key", "corpus"])
        embedded, plot = semantic_pass(items, evaluation, semantic, map_fn, spill if share_spill else None)
    return [_write(c, items[items["corpus"] == str(c.root)], embedded, plot) for c in loaded]


def _write(corpus: CorpusItems, items: pd.DataFrame, embedded: int, plot: Path | None) -> DedupResult:
    # column by column: a dict per row took 14 s at 1.35M clips
    columns = {"clip_key": items["key"], "video_id": items["video_id"], "keep": items["keep"].astype(bool),
               **{c: items[c] for c in ("reason", "duplicate_of", "duplicate_corpus", "distance", "cluster",
                                         "similarity")}}
    table = from_columns("dedup", {name: pa.array(values, from_pandas=True) for name, values in columns.items()},
                         len(items))
    write_part(CorpusLayout.at(corpus.root).part("dedup", "all"), "dedup", table)
    dropped = items.loc[~items["keep"], "reason"].value_counts().to_dict()
    return DedupResult(corpus.root, len(items), dropped, embedded, plot)
