"""Registered filters: a new one is a file and a line here. `--filter NAME[:KEY=VALUE,...]` turns
one on, with its options read into its own Options class."""

from __future__ import annotations

import dataclasses
import typing

from corpus.errors import InputError
from corpus.steps.filters.base import Filter
from corpus.steps.filters.caption import Caption
from corpus.steps.filters.quality import Bars, Frozen, Motion, Overlay, Sharpness

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
    options_class = FILTERS[name].Options
    fields = {f.name: f for f in dataclasses.fields(options_class)}
    hints = typing.get_type_hints(options_class)
    converted = {}
    for key, value in values.items():
        if key not in fields:
            raise InputError(f"{where}: the {name} filter has no option '{key}' (it has: {', '.join(fields)})")
        try:
            converted[key] = hints[key](value)
        except (TypeError, ValueError) as e:
            raise InputError(f"{where}: {key}={value!r} is not a {hints[key].__name__}") from e
    return options_class(**converted)


def build_filters(specs: tuple[tuple[str, dict], ...]) -> list[Filter]:
    return [FILTERS[name](filter_options(name, values, f"filter {name}")) for name, values in specs]
