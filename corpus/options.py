"""Options of a corpus build as frozen dataclasses: what the CLI parses and workers receive."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

SHARD_BYTES = 1024**3  # default size of a tar (of a build and of a mix): 1 GiB


@dataclass(frozen=True)
class FetchOptions:
    timeout_s: float = 30.0  # connect and per-read timeout; a stalled server fails after this
    max_bytes: int = 2 * 1024**3  # size cap of one download
    # after timeout_s, a download must average this many bytes/s: with max_bytes, a total time budget
    min_rate: float = 20_000.0
    retries: int = 3  # extra attempts for transient errors, with exponential backoff + jitter
    backoff_s: float = 1.0  # first backoff; doubles each attempt
    # yt-dlp
    format: str | None = None  # None: best at most 360p, without audio unless keep_audio
    cookies: str | None = None
    proxy: str | None = None
    sleep_interval_s: float = 0.0
    rate_limit: str | None = None  # e.g. "4M" bytes/s
    download_sections: bool = False  # fetch only the annotated time range where the site allows
    sleep_requests_s: float = 0.0  # yt-dlp: seconds between the requests of one extraction (per-site pacing)
    cookies_from_browser: str | None = None  # yt-dlp: BROWSER[+KEYRING][:PROFILE][::CONTAINER]
    extractor_args: tuple[str, ...] = ()
    # this many rows of one site failing in a row for one set-up cause (formats, bot check, rate limit)
    # stop the build, leaving them pending
    setup_fault_rows: int = 20  # yt-dlp: "IE_KEY:ARGS" each, e.g. "youtube:player_client=web"


@dataclass(frozen=True)
class ClipOptions:
    short_side: int = 320  # never upscaled
    fps: float | None = None  # None keeps the source frame rate
    crf: int = 23
    preset: str = "veryfast"
    keep_audio: bool = False
    min_seconds: float = 0.5  # shorter clips are failed rows (too_short)
    # windows: cut each video (or its annotated range) into fixed windows instead of one clip
    clip_seconds: float | None = None
    window_frames: int | None = None
    stride_s: float | None = None  # None: windows do not overlap
    # shots: clips follow shot boundaries; shorter shots than min_seconds merge, longer than max_seconds are cut
    split: str = "range"  # range (the row's range, or windows of it) | shots
    max_seconds: float | None = None
    shot_threshold: float = 3.0  # the adaptive detector's threshold (lower finds more cuts)
    # caps on what a file's header may claim: longer or larger videos fail as too_long / too_large
    max_duration_s: float = 24 * 3600.0
    max_pixels: int = 8192 * 8192


@dataclass(frozen=True)
class ImageOptions:
    """How images (the images source) are kept: the short side comes from ClipOptions."""

    min_side: int = 64  # smaller images fail as too_small
    max_pixels: int = 8192 * 8192  # larger ones fail as too_large, before they are decoded
    quality: int = 90  # JPEG quality of the stored image


@dataclass(frozen=True)
class FetchStepOptions:
    """What the fetch step and the fetchers need: how to fetch, and whether audio is kept (yt-dlp
    then asks for a format with it)."""

    fetch: FetchOptions
    keep_audio: bool = False


@dataclass(frozen=True)
class ImageStepOptions:
    """What the image step needs: how images are kept, and the short side they are stored at."""

    image: ImageOptions
    short_side: int = 320


@dataclass(frozen=True)
class BuildOptions:
    source: str
    inputs: tuple[str, ...]
    out: str
    fetch: FetchOptions = field(default_factory=FetchOptions)
    clip: ClipOptions = field(default_factory=ClipOptions)
    image: ImageOptions = field(default_factory=ImageOptions)
    shard_bytes: int = SHARD_BYTES
    unit_size: int = 64  # input rows per unit of work (resume and retry granularity)
    workers: int = 1  # local: processes; ray: units in flight at once
    executor: str = "local"  # local | ray
    ray_address: str | None = None  # an existing Ray cluster ("auto", "ray://host:10001"); None starts one
    label_map: str | None = None  # one class name per line: fixes label ids (e.g. the K710 order)
    source_options: dict = field(default_factory=dict)  # the source's own options (its Options class)
    # filter steps in order, each (name, its options as a dict): corpus/steps/filters
    filters: tuple[tuple[str, dict], ...] = ()

    def plan_fields(self) -> dict:
        """What decides the plan (rows and units): a rerun must match these to resume."""
        return {"source": self.source, "inputs": self.inputs, "unit_size": self.unit_size,
                "label_map": self.label_map, "source_options": self.source_options}

    def work_fields(self) -> dict:
        """What decides the clips and shards: may change only while no unit has finished."""
        fetch = {"format": self.fetch.format, "max_bytes": self.fetch.max_bytes,
                 "download_sections": self.fetch.download_sections}
        work = {"clip": asdict(self.clip), "image": asdict(self.image), "fetch": fetch, "shard_bytes": self.shard_bytes}
        if self.filters:  # only then: corpora built before filters existed keep their fingerprint and resume
            work["filters"] = [list(f) for f in self.filters]
        return work
