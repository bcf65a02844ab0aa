"""A build's settings from what a user gives (a command's options, a YAML file), read the way the
trainer reads its config: by field name, flat or by section, the command line over the file over
the source's presets over the defaults. The sections are the shared ones (corpus/options.py) and
one per registered component with options (steps, fetchers, executors), found in the registries,
so that a new component's options need no line here."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from corpus.component import Component
from corpus.errors import InputError
from corpus.executors import EXECUTORS
from corpus.fetchers import FETCHERS
from corpus.options import BuildOptions
from corpus.pipeline import STEPS
from corpus.sources import SOURCES
from corpus.steps.clip import Clip
from corpus.steps.filters import parse_filter
from corpus.storage import storage_presets
from manifests.options import OptionError, described_fields, merge, nest, read_options, sections, typed


def components() -> list[type[Component]]:
    """Every registered component that may have options: steps, fetchers, executors."""
    steps = list(dict.fromkeys(step for chain in STEPS.values() for step in chain))
    return [*steps, *FETCHERS.values(), *EXECUTORS.values()]


def sections_of(chosen: list[type[Component]] | None = None) -> dict[str, type]:
    """The section of each of `chosen` (default: every registered component) that has options of
    its own: its name -> its Options class."""
    return {c.section: c.Options for c in (components() if chosen is None else chosen) if described_fields(c.Options)}


def component_sections() -> dict[str, type]:
    return sections_of()


def executor_sections() -> dict[str, type]:
    """The executors' sections (shared by build, mix and dedup)."""
    return sections_of(list(EXECUTORS.values()))


def source_flags() -> dict[str, dataclasses.Field]:
    """Source options that are also flags of their own (`flag=True`), by name: the first source's field."""
    out: dict[str, dataclasses.Field] = {}
    for source in SOURCES.values():
        for f in described_fields(source.Options):
            if f.metadata.get("flag") is True:
                out.setdefault(f.name, f)
    return out


def _source_options(settings: dict) -> dict:
    """The source's own options: its flags given, and KEY=VALUE pairs (`source_option`)."""
    options = {name: settings.pop(name) for name in source_flags() if settings.get(name) is not None}
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    pairs = settings.pop("source_option", None) or ()
    if isinstance(pairs, dict):  # a YAML file may give them as a mapping
        return {**options, **pairs}
    for pair in pairs:
        key, sep, value = str(pair).partition("=")
        if not sep or not key.strip():
            raise InputError(f"--source-option '{pair}': write KEY=VALUE")
        options[key.strip().replace("-", "_")] = value
    return options


def _filters(given: Any) -> tuple[tuple[str, dict], ...]:
    """Filters as `--filter NAME[:KEY=VALUE,...]` texts, (name, options) pairs, or (from a file)
    mappings {NAME: {KEY: VALUE}}."""
    def spec(name: str, values: dict | None) -> str:
        return name + ":" + ",".join(f"{k}={v}" for k, v in (values or {}).items())

    out = []
    for item in given or ():
        if isinstance(item, list | tuple):
            out.append(parse_filter(spec(*item)))
        elif isinstance(item, dict):
            out += [parse_filter(spec(name, values)) for name, values in item.items()]
        else:
            out.append(parse_filter(str(item)))
    return tuple(out)


def configure(cls: type, settings: dict, from_file: dict | None = None, defaults: dict | None = None,
              components: list[type[Component]] | None = None, presets: Any = None) -> Any:
    """A `cls` (a command's settings: fields of its own, sections, `components` by section name)
    from flat settings by field name (None: not given) over a YAML file's contents over the layers
    `presets(chosen)` returns (by section, lowest first) over `defaults` (flat; a command's own,
    such as every core for --workers) over the classes' defaults. `components`: those whose own
    options are sections here (default: the executors). Raises InputError naming the setting."""
    try:
        own = sections_of(components) if components is not None else executor_sections()
        parts = {**sections(cls), **own}
        chosen = merge(nest(cls, from_file or {}, parts), nest(cls, settings, parts))
        doc = chosen
        for layer in reversed([nest(cls, defaults or {}, parts), *(presets(chosen) if presets else [])]):
            doc = merge(layer, doc)
        made = {name: read_options(kind, doc.pop(name, {}), f"the {name} settings") for name, kind in parts.items()}
        fields = {f.name: f for f in dataclasses.fields(cls)}
        hints = typing.get_type_hints(cls)
        top = {k: typed(k, hints[k], v, fields[k].metadata.get("parse")) for k, v in doc.items() if k in fields}
        return cls(**top, components={name: made.pop(name) for name in own}, **made)
    except OptionError as e:
        raise InputError(str(e)) from e


def configure_build(settings: dict, from_file: dict | None = None, defaults: dict | None = None) -> BuildOptions:
    """A build's options (see `configure`): the run's own fields (source, inputs, out), the
    source's options (its flags, KEY=VALUE pairs), the filters, and the sections, the chosen
    source's presets under what the user gave."""
    settings, from_file = dict(settings), dict(from_file or {})
    run = {}
    for layer in (from_file, settings):
        for key in ("source", "input", "inputs", "out", "filter", "filters"):
            if layer.get(key) is not None:
                run[key] = layer.pop(key)
        if "source_options" in layer:
            layer["source_option"] = layer.pop("source_options")
    try:
        source_options = {**_source_options(from_file), **_source_options(settings)}
    except OptionError as e:
        raise InputError(str(e)) from e
    name = run.get("source")
    if name not in SOURCES:
        raise InputError(f"unknown source {name!r}; choose one of {', '.join(SOURCES)}" if name
                         else f"give --source (one of {', '.join(SOURCES)})")
    source = SOURCES[name]
    inputs = run.get("input", run.get("inputs"))
    if not inputs or not run.get("out"):
        raise InputError("give the inputs (--input) and the corpus folder to write (--out)")
    settings |= {"source": source.name, "out": str(run["out"]), "source_options": source_options,
                 "inputs": tuple(str(p) for p in ([inputs] if isinstance(inputs, str) else inputs)),
                 "filters": _filters(run.get("filter", run.get("filters")))}
    options = configure(BuildOptions, settings, from_file, defaults, components(),
                        lambda chosen: [*storage_presets(chosen), *source.presets(chosen)])
    clip = options.of(Clip)
    if clip.split == "shots" and not source.splits_shots:
        raise InputError(f"--split shots is for sources of whole videos (movies, web, youtube), not {source.name}, "
                         "whose rows are annotated ranges")
    source.read_options(source_options)  # refused now, naming the option, rather than at plan time
    return options
