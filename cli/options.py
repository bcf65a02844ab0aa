"""Commands generated from settings classes, for both halves: each `option` field of a class
(manifests/options.py) becomes a command-line option of the same name (or its `flag`), with its
help text and panel, None unless given; `command` makes a typer command of groups of them that
hands the given values to its function as one dict, by field name."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any

import typer

from cli.common import Progress
from manifests.options import SIZE, described_fields, format_size, without_none


def _cli_type(f: dataclasses.Field, hint: Any) -> Any:
    """What typer parses a field as: sizes as text (1GiB), a tuple as a repeated option."""
    if f.metadata.get("parse") == SIZE:
        return str
    kind = without_none(hint)
    if typing.get_origin(kind) is tuple:
        return list[typing.get_args(kind)[0]]
    return kind


def _default_text(f: dataclasses.Field) -> str:
    """' (default: 1GiB)' for a field whose default is a value worth showing (rich would take
    typer's '[default: …]' spelling for markup)."""
    value = f.default
    if f.metadata.get("hide_default") or value in (None, (), dataclasses.MISSING) or isinstance(value, bool):
        return ""
    return f" (default: {format_size(value) if f.metadata.get('parse') == SIZE else value})"


def flag_of(f: dataclasses.Field) -> str:
    """A setting's command-line spelling: its `flag`, else --its-name."""
    flag = f.metadata.get("flag")
    return flag if isinstance(flag, str) else "--" + f.name.replace("_", "-")


def described_option(f: dataclasses.Field, hint: Any, panel: str | None = None, help_text: str | None = None,
                     show_default: bool = False) -> Any:
    """One field as a typer option (None unless given)."""
    flag = f.metadata.get("flag")
    decls = [flag] if isinstance(flag, str) else []
    text = (help_text or f.metadata["help"]) + (_default_text(f) if show_default else "")
    return Annotated[_cli_type(f, hint) | None, typer.Option(
        *decls, help=text, rich_help_panel=f.metadata.get("panel") or panel)]


def options_of(cls: type, panel: str | None = None, skip: tuple[str, ...] = (), show_default: bool = False
               ) -> dict[str, Any]:
    """Every setting of an options class as an option, under its own panel or `panel`; with
    show_default, its default in its help (where no preset changes it)."""
    hints = typing.get_type_hints(cls)
    return {f.name: described_option(f, hints[f.name], panel, show_default=show_default)
            for f in described_fields(cls) if f.name not in skip}


def command(run: Callable[[dict], None], doc: str, *groups: dict[str, Any],
            arguments: dict[str, Any] | None = None) -> Callable[..., None]:
    """A typer command taking `arguments` (positional, as declared), the options of `groups` (each
    None unless given) and --progress, handing them to `run` as one dict."""
    names = [name for group in groups for name in group] + list(arguments or {})
    repeated = {n for n in names if names.count(n) > 1}
    assert not repeated, f"options declared twice: {sorted(repeated)}"
    params = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=hint)
              for name, hint in (arguments or {}).items()]
    params += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=hint)
               for group in groups for name, hint in group.items()]
    params.append(inspect.Parameter("progress", inspect.Parameter.KEYWORD_ONLY, default=True, annotation=Progress))

    def generated_command(**options: Any) -> None:
        run(options)

    generated_command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    generated_command.__annotations__ = {p.name: p.annotation for p in params}
    generated_command.__doc__ = doc
    return generated_command
