"""Where the training data is: corpus folders (their shards/ table) or WebDataset URL patterns
(local paths, brace ranges, pipe: commands, http URLs)."""

from __future__ import annotations

import random
from pathlib import Path

import braceexpand

from manifests.layout import CorpusLayout
from manifests.tables import ManifestError, read_frame
from trainer.errors import DataError


def resolve_shards(specs: list[str]) -> tuple[list[str], int | None]:
    """Shard URLs from corpus folders and URL patterns, and the number of clips when known."""
    if not specs:
        raise DataError("no --shards given: name a corpus folder or a WebDataset URL pattern")
    urls: list[str] = []
    clips: int | None = 0
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            if not CorpusLayout.at(path).is_corpus():
                raise DataError(f"{spec} is a folder but not a vmae corpus (no build.json); build one with "
                                "'vmae corpus build' or give a WebDataset URL pattern")
            try:
                shards = read_frame(path, "shards", required=False)
            except ManifestError as e:
                raise DataError(str(e)) from e
            if shards.empty:
                raise DataError(f"{spec} holds no shards (no clips were built); see 'vmae corpus status {spec}'")
            urls += _inside(path, shards["shard"])
            clips = None if clips is None else clips + int(shards["clips"].sum())
        else:
            expanded = list(braceexpand.braceexpand(spec))
            local = [u for u in expanded if "://" not in u and not u.startswith("pipe:")]
            missing = [u for u in local if not Path(u).is_file()]
            if missing:
                raise DataError(f"--shards {spec}: {len(missing)} file(s) not found, e.g. {missing[0]}")
            urls += expanded
            clips = None
    if not urls:
        raise DataError(f"--shards {specs} names no shards")
    return urls, clips


def _inside(corpus: Path, shards) -> list[str]:
    """The shards/ entries of a corpus as paths, each checked to lie inside the corpus folder: a
    table copied from elsewhere never makes vmae read another file."""
    root, paths = corpus.resolve(), []
    for shard in shards:
        path = (root / str(shard)).resolve()
        if not path.is_relative_to(root):
            raise DataError(f"{corpus}: shard {shard!r} in its shards/ table lies outside the corpus folder; "
                            "refusing to read it (a corpus lists its own tars/ only)")
        paths.append(str(path))
    return paths


def shards_for(urls: list[str], rank: int, world: int, worker: int, workers: int, epoch: int,
               seed: int) -> list[str]:
    """This rank's and worker's shards for an epoch: one shuffle shared by all ranks (same seed),
    then split by rank and by worker. With fewer shards than readers, readers share shards."""
    order = list(urls)
    random.Random(seed * 1_000_003 + epoch).shuffle(order)
    readers, me = world * workers, rank * workers + worker
    if len(order) >= readers:
        return order[me::readers]
    return [order[me % len(order)]]
