"""Settings as frozen dataclasses, declared one way in both halves: each field through `option`
(its default, its help text, whether it changes what a run writes, and CLI extras), a config made
of sections (one dataclass each), given flat by field name from a command line or a YAML file.
Plain data, no torch, no Typer: corpus and trainer both build on it, and cli/options.py generates
the commands from it."""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml

SIZE = "size"  # a field's `parse`: bytes, written as 1GiB, 200MB or a number


class OptionError(ValueError):
    """A setting that cannot be read: names the setting and says what to write."""


def option(default: Any, help: str, *, output: bool | None = None, **extra: Any) -> Any:  # noqa: A002 - typer's name
    """A setting with its help text. `output`: whether changing it changes what a run writes (the
    corpus' clips and shards; a resume refuses to mix two values). Extras for the CLI: `flag` (its
    spelling, e.g. "--timeout" for timeout_s), `panel`, `parse` (SIZE)."""
    return dataclasses.field(default=default, metadata={"help": help, "output": output, **extra})


def described_fields(cls: type) -> list[dataclasses.Field]:
    """The fields of an options class that are settings (those declared with `option`)."""
    return [f for f in dataclasses.fields(cls) if "help" in f.metadata]


def output_values(options: Any) -> dict[str, Any]:
    """The values of the fields of `options` that change what a run writes."""
    return {f.name: getattr(options, f.name) for f in described_fields(type(options)) if f.metadata["output"]}


_UNITS = {"": 1, "B": 1, "K": 1e3, "KB": 1e3, "M": 1e6, "MB": 1e6, "G": 1e9, "GB": 1e9,
          "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3}


def parse_size(text: str | int | float) -> int:
    """'1GB', '500MB', '64KiB' or a plain number of bytes."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return int(text)
    m = re.fullmatch(r"\s*([0-9.]+(?:e[0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
    if not m or m.group(2).upper() not in _UNITS:
        raise OptionError(f"'{text}' is not a size; write e.g. 1GB, 500MB, 64KiB or a number of bytes")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def format_size(size: int | float) -> str:
    """The shortest exact spelling parse_size reads back: 1GiB for 1024**3, 20KB for 20,000."""
    for unit, factor in (("GiB", 1024**3), ("GB", 10**9), ("MiB", 1024**2), ("MB", 10**6), ("KiB", 1024),
                         ("KB", 1000)):
        if size >= factor and size % factor == 0:
            return f"{int(size // factor)}{unit}"
    return str(int(size))


def without_none(hint: Any) -> Any:
    """X for `X | None`; the hint itself otherwise."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        kept = [a for a in typing.get_args(hint) if a is not type(None)]
        return kept[0] if len(kept) == 1 else hint
    return hint


def typed(name: str, hint: Any, value: Any, parse: str | None = None) -> Any:
    """A setting's value as its field's type. Text (KEY=VALUE pairs, a YAML scalar) is parsed:
    numbers, booleans, sizes, and a tuple from comma-separated items; lists become tuples."""
    if value is None:
        return None
    if parse == SIZE:
        return parse_size(value)
    kind = without_none(hint)
    if typing.get_origin(kind) is tuple:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return tuple(value) if isinstance(value, list | tuple) else value
    if kind is bool and isinstance(value, str):
        if value.strip().lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise OptionError(f"{name}={value}: write true or false")
        return value.strip().lower() in ("true", "1", "yes")
    if kind in (int, float) and not isinstance(value, bool):
        try:
            return kind(value)
        except (TypeError, ValueError):
            raise OptionError(f"{name}={value!r} is not a {kind.__name__}") from None
    return value


def read_options(cls: type, given: dict, where: str) -> Any:
    """A `cls` from raw values by field name (text from a command line, or YAML/JSON values),
    each converted to its field's type; an unknown name is refused, naming the known ones."""
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise OptionError(f"{where} has no option {', '.join(map(repr, unknown))}; its options: "
                          f"{', '.join(known) or 'none'}")
    hints = typing.get_type_hints(cls)
    return cls(**{k: typed(f"{where}: {k}", hints[k], v, known[k].metadata.get("parse")) for k, v in given.items()})


def merge(base: dict, extra: dict) -> dict:
    """`extra` over `base`, section by section."""
    out = dict(base)
    for k, v in extra.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def defaults(cls: type) -> dict:
    """Every field of a config class with its default (MISSING where it has none)."""
    return {f.name: (f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default)
            for f in dataclasses.fields(cls)}


def sections(cls: type) -> dict[str, type]:
    """A config's sections: field name -> its dataclass."""
    return {name: type(value) for name, value in defaults(cls).items() if dataclasses.is_dataclass(value)}


def nest(cls: type, options: dict, parts: dict[str, type] | None = None) -> dict:
    """Settings by flat name (a command's parameters, or a YAML file's top level) -> the config's
    sections (`parts`: name -> dataclass; by default the config's own): a name that is a field of
    a section goes there; a section given as a mapping is taken as it is. None means not given."""
    parts = sections(cls) if parts is None else parts
    owner = {f.name: section for section, kind in parts.items() for f in dataclasses.fields(kind)}
    top = {f.name for f in dataclasses.fields(cls)}
    doc: dict = {}
    for key, value in options.items():
        if value is None:
            continue
        if key in parts and isinstance(value, dict):
            doc[key] = merge(doc.get(key, {}), value)
        elif key in top and key not in parts:
            doc[key] = value
        elif key in owner:
            doc.setdefault(owner[key], {})[key] = value
        else:
            raise OptionError(f"{key!r} is not a setting of {cls.__name__}")
    return doc


def read_settings_file(path: str | Path | None) -> dict:
    """A YAML file of settings (a mapping); {} for none."""
    if not path:
        return {}
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as e:
        raise OptionError(f"{path} is not a readable YAML file ({str(e).splitlines()[0]})") from e
    if doc is not None and not isinstance(doc, dict):
        raise OptionError(f"{path} holds a {type(doc).__name__}; a config file is a mapping of settings")
    return doc or {}
