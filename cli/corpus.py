"""`vmae corpus …`: build corpora from sources, and see what they hold."""

from __future__ import annotations

import json
import os
import typing
from pathlib import Path
from typing import Annotated

import typer

from cli.common import CorpusDir, fail, machine_faults, say
from cli.options import command, described_option, options_of
from corpus.config import component_sections, executor_sections, source_flags
from corpus.dedup.by_embedding import SemanticOptions
from corpus.dedup.run import DedupOptions
from corpus.errors import InputError, MachineFault
from corpus.mix.run import MixOptions
from corpus.options import SRC, BuildOptions, ExecutorOptions, ShardOptions
from corpus.sources import SOURCES
from corpus.steps.filters import described as described_filters
from manifests.errors import ManifestError
from manifests.options import OptionError, described_fields, read_settings_file, sections
from manifests.recipe import builtin_names

# Each command imports its work when it runs (its settings' classes are plain dataclasses): `vmae
# --help` and `vmae corpus status` stay quick. build, dedup and mix are generated from their settings'
# classes (cli/options.py), each option declared once, where the setting is.

app = typer.Typer(help="Build video corpora (WebDataset shards + Parquet manifests) and inspect them.",
                  no_args_is_help=True)

# The settings' defaults are the classes' (plain dataclasses: cheap to import); the one the commands
# change is --workers (every core, where the library's default is one process).
EVERY_CORE = {"workers": os.cpu_count() or 1}
ConfigFile = Annotated[Path | None, typer.Option(help="YAML file of settings (by option name, flat or by section); "
                                                      "options given here win.")]


def _sections(*classes: type) -> list[dict]:
    return [options_of(cls, show_default=True) for cls in classes]


def _source_flags() -> dict:
    """The source options that are flags of their own (`flag=True`), each naming the sources that have it."""
    out = {}
    for name, f in source_flags().items():
        having = [s for s in SOURCES.values() if name in {g.name for g in described_fields(s.Options)}]
        hint = typing.get_type_hints(having[0].Options)[name]
        out[name] = described_option(f, hint, SRC, f"{', '.join(s.name for s in having)}: {f.metadata['help']}")
    return out


def _source_options_help() -> str:
    listed = "; ".join(f"{s.name}: {', '.join(f.name for f in described_fields(s.Options))}"
                       for s in SOURCES.values() if described_fields(s.Options))
    return f"KEY=VALUE: any option of the source's own ({listed}); repeat."


BUILD_RUN: dict = {
    "source": Annotated[str | None, typer.Option(help=f"Where the videos come from: {', '.join(SOURCES)}.")],
    "input": Annotated[list[Path] | None, typer.Option("--input", "-i", help="Input file or folder; repeat for "
                                                                            "several.")],
    "out": Annotated[Path | None, typer.Option(help="Corpus folder to write (created; rerun to resume).")],
    "config": ConfigFile,
    "plan_only": Annotated[bool | None, typer.Option(help="Write videos/ with every row planned, then stop.")],
    "retry_failed": Annotated[bool | None, typer.Option(help="Re-queue transient failures into new units.")],
    "source_option": Annotated[list[str] | None, typer.Option(help=_source_options_help(), rich_help_panel=SRC)],
    "filter": Annotated[list[str] | None, typer.Option(
        "--filter", help=f"Turn a filter on, with its defaults or NAME:KEY=VALUE,...: {described_filters()}. What a "
                         "filter keeps out is in DIR/rejects/ with its reason; repeat for several.",
        rich_help_panel="Filters")],
}


def _build(options: dict) -> None:
    from corpus.build import build as run_build
    from corpus.config import configure_build

    plan_only, retry_failed, progress = (bool(options.pop(k)) for k in ("plan_only", "retry_failed", "progress"))
    try:
        config = configure_build(options, read_settings_file(options.pop("config")), EVERY_CORE)
        summary = run_build(config, plan_only=plan_only, retry_failed=retry_failed, progress=progress)
    except (InputError, ManifestError, OptionError) as e:
        raise fail(e) from e
    except MachineFault as e:  # exit 3: the machine, not the input
        typer.secho(f"error: {e}", fg="red", err=True)
        raise typer.Exit(3) from e
    print_summary(summary)


app.command("build")(command(_build, """Build a corpus: plan → fetch → probe → clip → filters → shard. Rerun the same
command to resume.""", BUILD_RUN, *_sections(*sections(BuildOptions).values(), *component_sections().values()),
                             _source_flags()))


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


def _dedup(options: dict) -> None:
    from corpus.config import configure
    from corpus.dedup.run import DedupOptions
    from corpus.dedup.run import dedup as run_dedup
    from corpus.executors import get_executor

    corpora, progress = options.pop("corpora"), options.pop("progress")
    try:
        config = configure(DedupOptions, options, read_settings_file(options.pop("config")), EVERY_CORE)
        with machine_faults("dedup", corpora[0]):
            results = run_dedup(corpora, list(config.against), config.threshold, exact=config.exact,
                                executor=get_executor(config), progress=progress,
                                allow_unfinished=config.allow_unfinished, semantic=config.semantic)
    except (InputError, ManifestError, OptionError) as e:
        raise fail(e) from e
    for r in results:
        dropped = "  ".join(f"{k}={v}" for k, v in sorted(r.dropped.items())) or "none"
        say(f"{r.corpus}: {r.items} items, kept {r.items - sum(r.dropped.values())}, dropped: {dropped}")
    if results and results[0].plot:
        say(f"semantic: {results[0].embedded} clips had an embedding; similarity distribution: {results[0].plot}")


app.command("dedup")(command(_dedup, """Find exact and near duplicates across corpora, and leaks of evaluation videos;
writes DIR/dedup/ for each corpus. Works on plan-only corpora too (by video id), so that duplicates and leaks are
dropped before anything is downloaded. With --embeddings, also semantic duplicates and leaks by embedding.""",
                             {"config": ConfigFile}, *_sections(DedupOptions, SemanticOptions, ExecutorOptions,
                                                                *executor_sections().values()),
                             arguments={"corpora": Annotated[list[Path], typer.Argument(
                                 help="Corpus folders to deduplicate together.")]}))


MIX_RUN: dict = {
    "recipe": Annotated[str | None, typer.Option(help=f"Built-in recipe ({', '.join(builtin_names())}) or a recipe "
                                                      "file.")],
    "input": Annotated[list[str] | None, typer.Option("--input", "-i", help="NAME=DIR: the corpus for a recipe "
                                                                           "source; repeat.")],
    "out": Annotated[Path | None, typer.Option(help="New corpus folder to write (must not exist or be empty).")],
    "config": ConfigFile,
}


def _mix(options: dict) -> None:
    from corpus.config import configure
    from corpus.mix.run import PLAN_ONLY_FILES, MixOptions
    from corpus.mix.run import mix as run_mix

    progress = options.pop("progress")
    inputs = {}
    for spec in options.pop("input") or ():
        name, sep, folder = spec.partition("=")
        if not sep or not name or not folder:
            raise fail(InputError(f"--input '{spec}': write NAME=DIR, e.g. k710=corpora/k710"))
        inputs[name] = folder
    try:
        config = configure(MixOptions, {**options, "inputs": inputs or None}, read_settings_file(options.pop("config")),
                           EVERY_CORE)
        if not config.recipe or not config.inputs or not config.out:
            raise InputError("give --recipe, the corpora (--input NAME=DIR) and the new corpus folder (--out)")
        with machine_faults("mix", config.out):
            summary = run_mix(config, progress=progress)
    except (InputError, ManifestError, OptionError) as e:
        raise fail(e) from e
    for name, r in summary["mix"].items():
        short = f", SHORT by {r['shortfall']}" if r["shortfall"] else ""
        still = "".join(f", {n} {reason}" for reason, n in r["kept_out"].items())
        say(f"{name:<12} quota {r['quota']:>8}  selected {r['selected']:>8}  of {r['available']} "
            f"({r['dropped_by_dedup']} dropped by dedup{still}){short}")
    if config.plan_only:
        say(f"planned     {summary['planned_clips']} clips, {summary['planned_bytes'] / 1e9:.2f} GB in "
            f"{summary['shards']} shards; nothing copied. The plan: {Path(config.out) / PLAN_ONLY_FILES[0]} and "
            f"{PLAN_ONLY_FILES[1]}; the same command without --plan-only makes this mix")
        return
    print_summary(summary)


app.command("mix")(command(_mix, """Sample corpora to a recipe's quotas (after dedup) into one new corpus, copying clips
without re-encoding and interleaving sources so every shard holds a mix. Rerun the same command to resume a stopped
mix.""", MIX_RUN, *_sections(MixOptions, ShardOptions, ExecutorOptions, *executor_sections().values())))


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
