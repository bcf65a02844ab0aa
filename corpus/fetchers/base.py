"""What every fetcher shares: its base, the request, the result, retries with backoff, hashing."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, TypeVar

from corpus.component import Component
from corpus.errors import StepError
from corpus.options import DownloadOptions

T = TypeVar("T")
OnTry = Callable[[], None]  # called before each attempt (the rows count their attempts)


@dataclass(frozen=True)
class FetchRequest:
    url: str | None
    path: str | None  # a local file (a local source, or a Kinetics mirror)
    stem: str  # file name (without extension) for a download
    workdir: Path
    section: tuple[float, float] | None = None  # the one range the task's rows need (a fetcher may fetch only it)
    warnings: list[str] = field(default_factory=list)  # the fetcher's tool adds its warnings here


@dataclass(frozen=True)
class Fetched:
    path: Path
    bytes: int
    sha256: str
    downloaded: bool  # True when the file is ours to delete after clipping
    offset_s: float | None = None  # where the file starts in the original video, when not at 0


class Fetcher(Component):
    """Brings one request's file to local disk; every fetcher obeys the download section."""

    reads: ClassVar[tuple[str, ...]] = ("download",)
    download: DownloadOptions

    def fetch(self, req: FetchRequest, on_try: OnTry) -> Fetched:
        raise NotImplementedError


def with_retries(attempt: Callable[[], T], retries: int, backoff_s: float, on_try: Callable[[], None]) -> T:
    """Call `attempt` until it succeeds, it fails permanently, or retries run out."""
    for n in range(retries + 1):
        on_try()
        try:
            return attempt()
        except StepError as e:
            if not e.transient or n == retries:
                raise
            # Full jitter: spreads the retries of many workers hitting one server.
            time.sleep(random.uniform(0, backoff_s * 2**n))
    raise AssertionError("unreachable")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
