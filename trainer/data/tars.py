"""Samples from WebDataset shards, read as data (manifests/tars.py): every member's header is
checked before its bytes are read, so a crafted shard costs no more memory than one member under
the cap. The cap is what the corpus says its clips weigh: the largest `bytes` of its clips/ table
(at least MIN_MEMBER_CAP, for the .json members), or DEFAULT_MEMBER_CAP for shards given as URL
patterns; data.max_member_bytes sets it by hand. Text members have their own, far smaller cap
(TEXT_MEMBER_CAP). Members refused (over the cap, sparse, links)
are logged; the sample they belonged to then lacks its video and is skipped as undecodable."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from pathlib import Path

import pyarrow.compute as pc
import webdataset as wds

from manifests.layout import CorpusLayout
from manifests.tables import ManifestError, read_table
from manifests.tars import MIN_MEMBER_CAP, members

log = logging.getLogger(__name__)

DEFAULT_MEMBER_CAP = 256 * 1024**2  # a clip of minutes at full HD; shards from URL patterns
# captions (.txt), manifest rows (.json) and labels (.cls) are a few hundred bytes; a shuffle buffer
# holds hundreds of samples, so a crafted caption of a MiB each would cost that many MiB
TEXT_MEMBERS = (".txt", ".json", ".cls")
TEXT_MEMBER_CAP = 64 * 1024
_LOGGED = 20  # refused members logged per process before only counting them


@lru_cache(maxsize=64)
def corpus_cap(root: str) -> int | None:
    """The largest clip a corpus folder lists, None when the folder is not a corpus or says nothing."""
    try:
        clips = read_table(Path(root), "clips", required=False)
    except ManifestError:
        return None
    largest = pc.max(clips["bytes"]).as_py() if clips.num_rows else None
    return max(int(largest), MIN_MEMBER_CAP) if largest else None


def member_cap(url: str, given: int | None) -> int:
    """The cap for one shard: given by hand, else its corpus' largest clip, else the default."""
    if given:
        return given
    root = Path(url).parent.parent  # a corpus' shards are DIR/tars/NAME.tar
    if "://" not in url and not url.startswith("pipe:") and CorpusLayout.at(root).is_corpus():
        return corpus_cap(str(root.resolve())) or DEFAULT_MEMBER_CAP
    return DEFAULT_MEMBER_CAP


class Refused:
    """Members not read, in this process: counted, the first few logged."""

    count = 0

    @classmethod
    def add(cls, url: str, name: str, why: str) -> None:
        cls.count += 1
        if cls.count <= _LOGGED:
            log.warning("not reading %s in %s: %s%s", name, url, why,
                        "; further refused members are only counted" if cls.count == _LOGGED else "")


def _files(sources: Iterable[dict], handler: Callable[[Exception], bool], cap: int | None) -> Iterator[dict]:
    """{fname, data, __url__} for the plain members of each opened shard, then {} (its end)."""
    for source in sources:
        url = source["url"]
        try:
            with source["stream"] as stream:
                for member, data in members(stream, url, member_cap(url, cap)):
                    if member.refused:
                        Refused.add(url, member.name, member.refused)
                    elif member.name.endswith(TEXT_MEMBERS) and member.size > TEXT_MEMBER_CAP:
                        Refused.add(url, member.name, f"{member.size:,} bytes of text, over the cap of "
                                                      f"{TEXT_MEMBER_CAP:,} for a caption, label or row")
                    elif not member.name.startswith("__"):  # webdataset's own meta members
                        yield {"fname": member.name, "data": data, "__url__": url}
        except Exception as e:  # noqa: BLE001 - a bad shard of any kind is the handler's to count
            if not handler(e):
                return
        yield {}


def tar_samples(urls: Iterable[str], handler: Callable[[Exception], bool], cap: int | None = None
                ) -> Iterator[dict]:
    """WebDataset samples ({__key__, __url__, ext: bytes}) of the shards, in order."""
    sources = wds.tariterators.url_opener(({"url": u} for u in urls), handler=handler)
    return wds.tariterators.group_by_keys(_files(sources, handler, cap), handler=handler)
