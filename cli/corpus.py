"""`vmae corpus …`: build corpora from sources, and see what they hold."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from cli.common import CorpusDir, Executor, RayAddress, fail, format_size, machine_faults, parse_size, say
from corpus.dedup import DEFAULT_SIMILARITY, DEFAULT_THRESHOLD
from corpus.errors import InputError, MachineFault
from corpus.options import SHARD_BYTES, BuildOptions, ClipOptions, FetchOptions, ImageOptions
from corpus.sources import SOURCES
from manifests.errors import ManifestError
from manifests.recipe import builtin_names

# Each command imports its work when it runs: `vmae --help` and `vmae corpus status` stay quick.

app = typer.Typer(help="Build video corpora (WebDataset shards + Parquet manifests) and inspect them.",
                  no_args_is_help=True)

AllowUnfinished = Annotated[bool, typer.Option(
    help="Use input corpora whose build did not finish (or whose dedup is older than their clips) as they are, "
         "with a warning; by default they are refused.")]

# The defaults of the options are the dataclasses' (plain dataclasses: cheap to import); the one
# the CLI changes is --workers (every core, where the library's default is one process).
BUILD = BuildOptions(source="", inputs=(), out="")
CLIP_, FETCH_, IMAGE_ = ClipOptions(), FetchOptions(), ImageOptions()

FETCH = "Fetching"
CLIP = "Clipping and encoding"
SRC = "Source-specific"


@app.command()
def build(
    source: Annotated[str, typer.Option(help=f"Where the videos come from: {', '.join(SOURCES)}.")],
    input: Annotated[list[Path], typer.Option("--input", "-i", help="Input file or folder; repeat for several.")],
    out: Annotated[Path, typer.Option(help="Corpus folder to write (created; rerun to resume).")],
    workers: Annotated[int, typer.Option(help="Parallel worker processes (local), or units in flight (ray).")
                       ] = os.cpu_count() or 1,
    executor: Executor = BUILD.executor,
    ray_address: RayAddress = None,
    shard_bytes: Annotated[str, typer.Option(help="Target tar size, e.g. 1GiB, 200MB.")] = format_size(SHARD_BYTES),
    unit_size: Annotated[int, typer.Option(help="Input rows per unit of work (resume granularity).")] = BUILD.unit_size,
    plan_only: Annotated[bool, typer.Option(help="Write videos/ with every row planned, then stop.")] = False,
    retry_failed: Annotated[bool, typer.Option(help="Re-queue transient failures into new units.")] = False,
    short_side: Annotated[int, typer.Option(help="Short side of clips in pixels (never upscaled).",
                                            rich_help_panel=CLIP)] = CLIP_.short_side,
    fps: Annotated[float | None, typer.Option(help="Output frame rate; default keeps the source's.",
                                              rich_help_panel=CLIP)] = None,
    crf: Annotated[int, typer.Option(help="x264 quality (lower is better).", rich_help_panel=CLIP)] = CLIP_.crf,
    preset: Annotated[str, typer.Option(help="x264 speed preset.", rich_help_panel=CLIP)] = CLIP_.preset,
    keep_audio: Annotated[bool, typer.Option(help="Keep the audio track (AAC).", rich_help_panel=CLIP)] = False,
    min_seconds: Annotated[float, typer.Option(help="Shorter clips fail as too_short.",
                                               rich_help_panel=CLIP)] = CLIP_.min_seconds,
    max_duration: Annotated[float, typer.Option(help="Videos whose header claims more seconds fail as too_long.",
                                                rich_help_panel=CLIP)] = CLIP_.max_duration_s,
    max_pixels: Annotated[int, typer.Option(help="Videos with larger frames (width x height), and larger images, "
                                                 "fail as too_large (images before they are decoded).",
                                            rich_help_panel=CLIP)] = CLIP_.max_pixels,
    min_side: Annotated[int, typer.Option(help="images: smaller images (short side, px) fail as too_small.",
                                          rich_help_panel=CLIP)] = IMAGE_.min_side,
    jpeg_quality: Annotated[int, typer.Option(help="images: JPEG quality of stored images.",
                                              rich_help_panel=CLIP)] = IMAGE_.quality,
    clip_seconds: Annotated[float | None, typer.Option(help="Cut fixed windows of this many seconds.",
                                                       rich_help_panel=CLIP)] = None,
    window_frames: Annotated[int | None, typer.Option(help="Cut fixed windows of this many frames (AVA: 300).",
                                                      rich_help_panel=CLIP)] = None,
    stride: Annotated[float | None, typer.Option(help="Seconds between window starts (default: window length).",
                                                 rich_help_panel=CLIP)] = None,
    split: Annotated[str, typer.Option(help="range: the row's range (or windows of it); shots: clips follow shot "
                                            "boundaries (movies, web, youtube).", rich_help_panel=CLIP)] = CLIP_.split,
    max_seconds: Annotated[float | None, typer.Option(help="--split shots: cut longer shots into equal pieces.",
                                                      rich_help_panel=CLIP)] = None,
    shot_threshold: Annotated[float, typer.Option(help="--split shots: how far above its rolling average a "
                                                       "frame's change must jump to cut (lower finds more cuts).",
                                                  rich_help_panel=CLIP)] = CLIP_.shot_threshold,
    timeout: Annotated[float, typer.Option(help="Seconds without data before a download fails.",
                                           rich_help_panel=FETCH)] = FETCH_.timeout_s,
    max_bytes: Annotated[str, typer.Option(help="Size cap of one download.", rich_help_panel=FETCH)
                         ] = format_size(FETCH_.max_bytes),
    min_rate: Annotated[str, typer.Option(help="Bytes per second a download must average once --timeout has "
                                               "passed (with --max-bytes, a total time budget).",
                                          rich_help_panel=FETCH)] = format_size(FETCH_.min_rate),
    retries: Annotated[int, typer.Option(help="Retries of transient errors (exponential backoff + jitter).",
                                         rich_help_panel=FETCH)] = FETCH_.retries,
    format: Annotated[str | None, typer.Option(help="yt-dlp format (default: best ≤360p).",
                                               rich_help_panel=FETCH)] = None,
    cookies: Annotated[Path | None, typer.Option(help="Cookies file for yt-dlp (Instagram needs one).",
                                                 rich_help_panel=FETCH)] = None,
    proxy: Annotated[str | None, typer.Option(help="Proxy URL for yt-dlp.", rich_help_panel=FETCH)] = None,
    sleep_interval: Annotated[float, typer.Option(help="yt-dlp: seconds to sleep before each download.",
                                                  rich_help_panel=FETCH)] = FETCH_.sleep_interval_s,
    rate_limit: Annotated[str | None, typer.Option(help="yt-dlp: max download rate, e.g. 4M.",
                                                   rich_help_panel=FETCH)] = None,
    download_sections: Annotated[bool, typer.Option(help="yt-dlp: fetch only the annotated time range.",
                                                    rich_help_panel=FETCH)] = FETCH_.download_sections,
    sleep_requests: Annotated[float, typer.Option(help="yt-dlp: seconds between the requests of one video's "
                                                       "extraction (pace one site).", rich_help_panel=FETCH)
                            ] = FETCH_.sleep_requests_s,
    cookies_from_browser: Annotated[str | None, typer.Option(
        help="yt-dlp: cookies of a signed-in browser, BROWSER[+KEYRING][:PROFILE] (e.g. firefox).",
        rich_help_panel=FETCH)] = None,
    extractor_args: Annotated[list[str] | None, typer.Option(
        help="yt-dlp: extractor arguments as on yt-dlp's command line, e.g. 'youtube:player_client=web' "
             "(player clients, PO-token providers); repeat.", rich_help_panel=FETCH)] = None,
    setup_fault_rows: Annotated[int, typer.Option(
        help="Stop the build when this many rows of one site fail in a row for one set-up cause (formats missing, "
             "bot check, rate limit); they stay pending.", rich_help_panel=FETCH)] = FETCH_.setup_fault_rows,
    url_column: Annotated[str | None, typer.Option(help="web, images: name of the URL column.",
                                                   rich_help_panel=SRC)] = None,
    url_template: Annotated[str | None, typer.Option(help="kinetics: URL of a video, with {youtube_id} (default: "
                                                     "YouTube's watch URL).", rich_help_panel=SRC)] = None,
    mirror: Annotated[Path | None, typer.Option(help="kinetics: folder of {youtube_id}_{start:06d}_{end:06d}.mp4.",
                                                rich_help_panel=SRC)] = None,
    label_map: Annotated[Path | None, typer.Option(help="Class order, one name per line (e.g. the K710 list); "
                                                   "rows of other classes are skipped as unknown_label.",
                                                   rich_help_panel=SRC)] = None,
    version_labels: Annotated[list[str] | None, typer.Option(
        help="kinetics: class order of a version for its index map, e.g. 400=label_map_k400.txt.",
        rich_help_panel=SRC)] = None,
    source_option: Annotated[list[str] | None, typer.Option(
        help="KEY=VALUE: any option of the source's own (the flags above are the common ones); repeat.",
        rich_help_panel=SRC)] = None,
    filter: Annotated[list[str] | None, typer.Option(
        "--filter", help="Turn a filter on, with its defaults or NAME:KEY=VALUE,...: caption (rows, before download: "
                         "min_words), motion (min_motion), sharpness (min_sharpness), frozen (max_frozen), bars "
                         "(max_bars), overlay (max_overlay). What a filter keeps out is in DIR/rejects/ with its "
                         "reason; repeat for several.", rich_help_panel="Filters")] = None,
    progress: Annotated[bool, typer.Option(help="Show a live progress bar.")] = True,
) -> None:
    """Build a corpus: plan → fetch → probe → clip → filters → shard. Rerun the same command to resume."""
    from corpus.build import build as run_build

    if source not in SOURCES:
        raise typer.BadParameter(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}",
                                 param_hint="--source")
    if clip_seconds is not None and window_frames is not None:
        raise typer.BadParameter("give --clip-seconds or --window-frames, not both")
    from corpus.steps.filters import parse_filter

    try:
        filters = tuple(parse_filter(spec) for spec in filter or ())
    except InputError as e:
        raise fail(e) from e
    options = BuildOptions(
        source=source, inputs=tuple(str(p) for p in input), out=str(out), workers=workers, executor=executor,
        ray_address=ray_address, filters=filters,
        shard_bytes=parse_size(shard_bytes), unit_size=unit_size,
        fetch=FetchOptions(timeout_s=timeout, max_bytes=parse_size(max_bytes), min_rate=parse_size(min_rate),
                           retries=retries, format=format,
                           cookies=str(cookies) if cookies else None, proxy=proxy, sleep_interval_s=sleep_interval,
                           rate_limit=rate_limit, download_sections=download_sections,
                           sleep_requests_s=sleep_requests, cookies_from_browser=cookies_from_browser,
                           extractor_args=tuple(extractor_args or ()), setup_fault_rows=setup_fault_rows),
        clip=ClipOptions(short_side=short_side, fps=fps, crf=crf, preset=preset, keep_audio=keep_audio,
                         min_seconds=min_seconds, max_duration_s=max_duration, max_pixels=max_pixels,
                         clip_seconds=clip_seconds, window_frames=window_frames,
                         stride_s=stride, split=split, max_seconds=max_seconds, shot_threshold=shot_threshold),
        image=ImageOptions(min_side=min_side, max_pixels=max_pixels, quality=jpeg_quality),
        label_map=str(label_map) if label_map else None,
        source_options=_source_options(source_option, url_column=url_column, url_template=url_template,
                                       mirror=str(mirror) if mirror else None,
                                       version_labels=tuple(version_labels) if version_labels else None),
    )
    try:
        summary = run_build(options, plan_only=plan_only, retry_failed=retry_failed, progress=progress)
    except (InputError, ManifestError) as e:
        raise fail(e) from e
    except MachineFault as e:  # exit 3: the machine, not the input
        typer.secho(f"error: {e}", fg="red", err=True)
        raise typer.Exit(3) from e
    print_summary(summary)


def _source_options(pairs: list[str] | None, **flags) -> dict:
    """The source's options: the source flags given, and --source-option KEY=VALUE pairs."""
    options = {k: v for k, v in flags.items() if v is not None}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"'{pair}': write KEY=VALUE", param_hint="--source-option")
        options[key.strip().replace("-", "_")] = value
    return options


def print_summary(s: dict) -> None:
    say(f"corpus      {s['corpus']}  ({s['build']})")
    say(f"input rows  {s['rows']}  " + "  ".join(f"{k}={v}" for k, v in s["status"].items()))
    if s["error_kinds"]:
        say("errors      " + "  ".join(f"{k}={v}" for k, v in s["error_kinds"].items()))
    extra = "".join(f", {s[k]} {word}" for k, word in (("images", "images"), ("captioned_clips", "captioned"))
                    if s.get(k))
    say(f"clips       {s['clips']}  ({s['hours'] * 60:.1f} min of video, {s['labeled_clips']} labeled{extra})")
    say(f"shards      {s['shards']}  ({s['shard_bytes'] / 1e6:.1f} MB)")
    for step, counts in s.get("steps", {}).items():
        outcomes = "  ".join(f"{k}={v}" for k, v in counts.items() if k != "seconds")
        say(f"step        {step:<6} {outcomes}  ({counts.get('seconds', 0):.1f} s)")
    for text, count in s.get("tool_warnings", {}).items():
        say(f"warning     (yt-dlp, {count} files) {text}")
    if s.get("stopped"):
        say(f"stopped     {s['stopped']}")
    for key, value in s["report"].items():
        if key != "files" and value:
            shown = len(value) if isinstance(value, dict) else value
            say(f"plan        {key.replace('_', ' ')}: {shown}")


@app.command()
def status(corpus: CorpusDir, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Counts by status and error kind, clips, shards, bytes and hours of video."""
    from corpus.status import summarize

    try:
        s = summarize(corpus)
    except ManifestError as e:
        raise fail(e) from e
    if as_json:
        typer.echo(json.dumps(s, indent=2))
    else:
        print_summary(s)


@app.command()
def compact(corpus: CorpusDir) -> None:
    """Merge the corpus' tables into a few large files (a finished build does this itself), so that
    reading videos/ with pandas costs about what one file costs. Safe to interrupt; rerun to finish."""
    from corpus.compact import compact as run_compact
    from corpus.lock import writing
    from manifests.layout import CorpusLayout

    layout = CorpusLayout.at(corpus)
    if not layout.is_corpus():
        raise fail(ManifestError(f"{corpus} is not a vmae corpus folder (no build.json)"))
    try:
        with machine_faults("compact", corpus), writing(layout.root):
            changed = run_compact(layout)
    except (InputError, ManifestError) as e:
        raise fail(e) from e
    for name, (before, after) in changed.items():
        typer.echo(f"{name:<7} {before} files -> {after}")
    typer.echo("already compact" if not changed else f"compacted {corpus}")


@app.command()
def dedup(
    corpora: Annotated[list[Path], typer.Argument(help="Corpus folders to deduplicate together.")],
    against: Annotated[list[Path] | None, typer.Option(
        help="Evaluation corpus (may be plan-only): training clips matching it by video id or "
             "signature are dropped as leaks. Repeat for several.")] = None,
    threshold: Annotated[int, typer.Option(help="Near-duplicate threshold in bits of the 512-bit signature.")]
    = DEFAULT_THRESHOLD,
    workers: Annotated[int, typer.Option(help="Processes (or Ray tasks) searching for near pairs at once; each "
                                              "holds a copy of the signatures (64 bytes per clip).")
                       ] = os.cpu_count() or 1,
    executor: Executor = BUILD.executor,
    ray_address: RayAddress = None,
    allow_unfinished: AllowUnfinished = False,
    embeddings: Annotated[list[Path] | None, typer.Option(
        help="Parquet of clip embeddings ('vmae embed': clip_key, embedding) of the corpora and the --against "
             "ones; turns on semantic dedup (K-means, then cosine within clusters). Repeat for several files.",
        rich_help_panel="Semantic")] = None,
    similarity: Annotated[float, typer.Option(
        help="Cosine at or above which two clips of different videos are semantic duplicates; choose it from "
             "the picture the command draws.", rich_help_panel="Semantic")] = DEFAULT_SIMILARITY,
    clusters: Annotated[int | None, typer.Option(help="K-means clusters (default: about the square root of the "
                                                      "clips).", rich_help_panel="Semantic")] = None,
    plot: Annotated[Path | None, typer.Option(help="Where to draw the similarity distribution (default: "
                                                   "DIR/dedup_similarity.png of the first corpus).",
                                              rich_help_panel="Semantic")] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Find exact and near duplicates across corpora, and leaks of evaluation videos; writes
    DIR/dedup/ for each corpus. Works on plan-only corpora too (by video id), so that duplicates
    and leaks are dropped before anything is downloaded. With --embeddings, also semantic
    duplicates and leaks by embedding."""
    from corpus.dedup.by_embedding import SemanticOptions
    from corpus.dedup.run import dedup as run_dedup

    semantic = SemanticOptions(tuple(str(e) for e in embeddings), similarity, clusters, str(plot) if plot else None
                               ) if embeddings else None
    try:
        with machine_faults("dedup", corpora[0]):
            results = run_dedup(corpora, against or [], threshold, workers=workers, executor=executor,
                                ray_address=ray_address, progress=progress, allow_unfinished=allow_unfinished,
                                semantic=semantic)
    except (InputError, ManifestError) as e:
        raise fail(e) from e
    for r in results:
        dropped = "  ".join(f"{k}={v}" for k, v in sorted(r.dropped.items())) or "none"
        typer.echo(f"{r.corpus}: {r.items} items, kept {r.items - sum(r.dropped.values())}, dropped: {dropped}")
    if results and results[0].plot:
        typer.echo(f"semantic: {results[0].embedded} clips had an embedding; similarity distribution: "
                   f"{results[0].plot}")


@app.command()
def mix(
    recipe: Annotated[str, typer.Option(help=f"Built-in recipe ({', '.join(builtin_names())}) or a recipe file.")],
    input: Annotated[list[str], typer.Option("--input", "-i", help="NAME=DIR: the corpus for a recipe source.")],
    out: Annotated[Path, typer.Option(help="New corpus folder to write (must not exist or be empty).")],
    scale: Annotated[float, typer.Option(help="Multiply every quota, e.g. 0.001 for a small trial mix.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed of the sampling and interleaving.")] = 0,
    shard_bytes: Annotated[str, typer.Option(help="Target tar size, e.g. 1GiB, 200MB.")] = format_size(SHARD_BYTES),
    workers: Annotated[int, typer.Option(help="Shards written at once (processes, or Ray tasks).")
                   ] = os.cpu_count() or 1,
    executor: Executor = BUILD.executor,
    ray_address: RayAddress = None,
    allow_unfinished: AllowUnfinished = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Sample corpora to a recipe's quotas (after dedup) into one new corpus, copying clips
    without re-encoding and interleaving sources so every shard holds a mix. Rerun the same
    command to resume a stopped mix."""
    from corpus.mix.run import MixOptions
    from corpus.mix.run import mix as run_mix

    inputs = {}
    for spec in input:
        name, sep, folder = spec.partition("=")
        if not sep or not name or not folder:
            raise typer.BadParameter(f"'{spec}': write NAME=DIR, e.g. k710=corpora/k710", param_hint="--input")
        inputs[name] = folder
    try:
        with machine_faults("mix", out):
            summary = run_mix(MixOptions(recipe=recipe, inputs=inputs, out=str(out), scale=scale, seed=seed,
                                         shard_bytes=parse_size(shard_bytes), workers=workers,
                                         executor=executor, ray_address=ray_address,
                                         allow_unfinished=allow_unfinished), progress=progress)
    except (InputError, ManifestError) as e:
        raise fail(e) from e
    for name, r in summary["mix"].items():
        short = f", SHORT by {r['shortfall']}" if r["shortfall"] else ""
        still = "".join(f", {n} {reason}" for reason, n in r["kept_out"].items())
        typer.echo(f"{name:<12} quota {r['quota']:>8}  selected {r['selected']:>8}  of {r['available']} "
                   f"({r['dropped_by_dedup']} dropped by dedup{still}){short}")
    print_summary(summary)


@app.command()
def report(
    corpora: Annotated[list[Path], typer.Argument(help="Corpus folders to show together.")],
    out: Annotated[Path, typer.Option(help="Where to write OUT.png and OUT.html.")] = Path("corpus-report.png"),
) -> None:
    """Draw clips per source, duration and resolution histograms, failure reasons, dedup outcome
    and class balance into a PNG, and an HTML page embedding it."""
    from corpus.report import report as run_report

    try:
        with machine_faults("report", out):
            png, page = run_report(corpora, out)
    except (InputError, ManifestError) as e:
        raise fail(e) from e
    typer.echo(f"wrote {png} and {page}")


@app.command()
def view(
    corpora: Annotated[list[Path], typer.Argument(help="Corpus folders (built, plan-only or mixed) to look at.")],
    port: Annotated[int, typer.Option(help="Port to serve on (0: any free one).")] = 8765,
    host: Annotated[str, typer.Option(
        help="Address to serve on. The default keeps the viewer to this machine; another address lets anyone who "
             "can reach it read the clips (with a warning).")] = "127.0.0.1",
    browser: Annotated[bool, typer.Option(help="Open the page in this machine's browser, when it has one.")] = True,
    cache: Annotated[Path | None, typer.Option(
        help="Folder for the contact sheets made on demand [default: ~/.cache/vmae/view].")] = None,
) -> None:
    """Serve a read-only web page of corpora: browse and filter clips and watch them (straight from
    their tars), failed rows, each dedup drop beside the copy kept, filter rejects, and a hybrid's recipe."""
    from corpus.view.server import serve, warn_if_exposed

    try:
        server = serve(corpora, host, port, cache)
    except (InputError, ManifestError) as e:
        raise fail(e) from e
    except OSError as e:
        raise fail(InputError(f"cannot serve on {host}:{port}: {e.strerror or e}; choose another --port")) from e
    warn_if_exposed(host)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{server.server_address[1]}/" + (f"?token={server.token}" if server.token else "")
    typer.echo(f"serving {len(corpora)} corpus folder(s) at {url} (Ctrl-C stops)", err=True)
    if browser and (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.name != "posix"
                    or os.uname().sysname == "Darwin"):
        import webbrowser

        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
