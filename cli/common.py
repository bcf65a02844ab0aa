"""Options shared by several commands, as Annotated aliases, and small parsers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

CorpusDir = Annotated[Path, typer.Argument(help="A corpus folder (made by 'vmae corpus build').")]

_UNITS = {"": 1, "B": 1, "K": 1e3, "KB": 1e3, "M": 1e6, "MB": 1e6, "G": 1e9, "GB": 1e9,
          "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3}


def parse_size(text: str) -> int:
    """'1GB', '500MB', '64KiB' or a plain number of bytes."""
    m = re.fullmatch(r"\s*([0-9.]+(?:e[0-9]+)?)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).upper() not in _UNITS:
        raise typer.BadParameter(f"'{text}' is not a size; write e.g. 1GB, 500MB, 64KiB or a number of bytes")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])
