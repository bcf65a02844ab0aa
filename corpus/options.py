"""A corpus build's settings: the sections several components read (the plan, media, downloads,
shards, the executor), each component's own options by its section name, the source's options and
the filters. Every setting is declared once, with `option` (manifests/options.py): its help text,
and whether it changes the clips and shards (`output=True`), from which the resume fingerprint is
derived (corpus/fingerprint.py). The commands are generated from these classes (cli/corpus.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from corpus.errors import InputError
from manifests.options import SIZE, option

SHARD_BYTES = 1024**3  # default size of a tar (of a build and of a mix): 1 GiB

FETCH = "Fetching"
CLIP = "Clipping and encoding"
SRC = "Source-specific"
RUN = "Running"
ALLOW_UNFINISHED = ("Use input corpora whose build did not finish (or whose dedup is older than their clips) as they "
                    "are, with a warning; by default they are refused.")


@dataclass(frozen=True)
class NoOptions:
    """A component without options of its own."""


@dataclass(frozen=True)
class PlanOptions:
    """What decides the plan besides the source and its inputs: a rerun must match it to resume."""

    unit_size: int = option(64, "Input rows per unit of work (resume granularity).", output=True, panel=RUN)
    label_map: str | None = option(None, "Class order, one name per line (e.g. the K710 list); rows of other "
                                         "classes are skipped as unknown_label.", output=True, panel=SRC)

    def __post_init__(self):
        if self.unit_size < 1:
            raise InputError(f"--unit-size {self.unit_size}: give at least 1 row per unit")


@dataclass(frozen=True)
class MediaOptions:
    """What the probe, clip and image steps and the yt-dlp fetcher all read."""

    short_side: int = option(320, "Short side of clips and images in pixels (never upscaled).", output=True,
                             panel=CLIP)
    keep_audio: bool = option(False, "Keep the audio track (AAC).", output=True, panel=CLIP)
    max_pixels: int = option(8192 * 8192, "Videos with larger frames (width x height), and larger images, fail as "
                                          "too_large (images before they are decoded).", output=True, panel=CLIP)
    max_duration_s: float = option(24 * 3600.0, "Videos whose header claims more seconds fail as too_long.",
                                   output=True, flag="--max-duration", panel=CLIP)

    def __post_init__(self):
        if self.short_side < 2 or self.max_pixels < 1 or self.max_duration_s <= 0:
            raise InputError("--short-side must be at least 2, --max-pixels and --max-duration above 0")


@dataclass(frozen=True)
class DownloadOptions:
    """What every download (HTTP and yt-dlp) obeys, and when a streak of set-up failures stops the build."""

    timeout_s: float = option(30.0, "Seconds without data before a download fails.", output=False,
                              flag="--timeout", panel=FETCH)
    max_bytes: int = option(2 * 1024**3, "Size cap of one download.", output=True, parse=SIZE, panel=FETCH)
    min_rate: float = option(20_000.0, "Bytes per second a download must average once --timeout has passed (with "
                                       "--max-bytes, a total time budget).", output=False, parse=SIZE, panel=FETCH)
    retries: int = option(3, "Retries of transient errors (exponential backoff + jitter).", output=False,
                          panel=FETCH)
    backoff_s: float = option(1.0, "Seconds before the first retry; doubles each attempt.", output=False,
                              flag="--backoff", panel=FETCH)
    setup_fault_rows: int = option(20, "Stop the build when this many rows of one site fail in a row for one set-up "
                                       "cause (formats missing, bot check, rate limit); they stay pending.",
                                   output=False, panel=FETCH)

    def __post_init__(self):
        if self.timeout_s <= 0 or self.max_bytes < 1 or self.retries < 0 or self.setup_fault_rows < 1:
            raise InputError("--timeout and --max-bytes must be above 0, --retries at least 0, --setup-fault-rows "
                             "at least 1")


@dataclass(frozen=True)
class ShardOptions:
    """How the shard writer sizes tars (a build's and a mix's)."""

    shard_bytes: int = option(SHARD_BYTES, "Target tar size, e.g. 1GiB, 200MB.", output=True, parse=SIZE,
                              panel=RUN)

    def __post_init__(self):
        if self.shard_bytes < 1:
            raise InputError(f"--shard-bytes {self.shard_bytes}: give a size above 0")


@dataclass(frozen=True)
class ExecutorOptions:
    """Where the work runs; build, mix and dedup share it (each executor's own options are its section)."""

    executor: str = option("local", "local runs processes on this machine, ray runs Ray tasks (corpus folders on "
                                    "storage every node sees).", output=False, panel=RUN)
    workers: int = option(1, "Parallel worker processes (local), or tasks in flight (ray); the commands' default is "
                             "every core.", output=False, panel=RUN, hide_default=True)

    def __post_init__(self):
        if self.workers < 1:
            raise InputError(f"--workers {self.workers}: give at least 1")


class Sectioned:
    """A command's settings holding components' own sections (`components`, by section name)."""

    components: dict[str, Any]

    def of(self, component: type) -> Any:
        """A component's own options: as given, or its defaults."""
        return self.components.get(component.section) or component.Options()


@dataclass(frozen=True)
class BuildOptions(Sectioned):
    source: str
    inputs: tuple[str, ...]
    out: str
    plan: PlanOptions = field(default_factory=PlanOptions)
    media: MediaOptions = field(default_factory=MediaOptions)
    download: DownloadOptions = field(default_factory=DownloadOptions)
    shard: ShardOptions = field(default_factory=ShardOptions)
    executor: ExecutorOptions = field(default_factory=ExecutorOptions)
    # each component's own options (a step's, a fetcher's, an executor's) by its section name;
    # one not given has its defaults
    components: dict[str, Any] = field(default_factory=dict)
    source_options: dict = field(default_factory=dict)  # the source's own options (its Options class)
    # filter steps in order, each (name, its options as a dict): corpus/steps/filters
    filters: tuple[tuple[str, dict], ...] = ()
