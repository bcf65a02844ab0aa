"""Registered filters: a new one is a file and a line here. `--filter NAME[:KEY=VALUE,...]` turns
one on, with its options read into its own Options class."""

from __future__ import annotations

import dataclasses

from corpus.errors import InputError
from corpus.steps.filters.base import Filter
from corpus.steps.filters.caption import Caption
from corpus.steps.filters.quality import Bars, Frozen, Motion, Overlay, Sharpness
from manifests.options import OptionError, described_fields, read_options

FILTERS: dict[str, type[Filter]] = {f.name: f for f in (Caption, Motion, Sharpness, Frozen, Bars, Overlay)}


def parse_filter(spec: str) -> tuple[str, dict]:
    """'sharpness' or 'sharpness:min_sharpness=5' -> (name, options as a plain dict), checked."""
    name, _, rest = spec.partition(":")
    if name not in FILTERS:
        raise InputError(f"--filter {spec}: no filter '{name}' (known: {', '.join(sorted(FILTERS))})")
    values = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        values[key.strip()] = value.strip() if eq else ""
    return name, dataclasses.asdict(filter_options(name, values, f"--filter {spec}"))


def filter_options(name: str, values: dict, where: str):
    """The filter's Options from raw values (strings from the CLI, or numbers from JSON)."""
    try:
        return read_options(FILTERS[name].Options, values, f"{where}: the {name} filter")
    except OptionError as e:
        raise InputError(str(e)) from e


def build_filters(specs: tuple[tuple[str, dict], ...]) -> list[Filter]:
    return [FILTERS[name](filter_options(name, values, f"filter {name}")) for name, values in specs]


def described() -> str:
    """'caption (rows, before download: min_words), motion (min_motion), ...' for a help text."""
    def one(f: type[Filter]) -> str:
        keys = ", ".join(o.name for o in described_fields(f.Options))
        return f"{f.name} ({'rows, before download: ' if f.on == 'rows' else ''}{keys})"
    return ", ".join(one(f) for f in FILTERS.values())
