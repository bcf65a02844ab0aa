"""Times and lists as the public video-text lists write them: timestamps as `0:00:05.000`,
`00:00:13.880`, `01:02.5` or seconds; lists of spans and captions as JSON cells, or as the
Python literals Panda-70M's CSV holds (`[['0:00:00.000', '0:00:05.005'], ...]`)."""

from __future__ import annotations

import ast
import json
import math
import re

_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:[.,]\d+)?)$")
# A list cell longer than this is refused unparsed: a real row lists hundreds of spans, not millions.
MAX_LIST_CHARS = 1_000_000


def parse_timestamp(value) -> float | None:
    """Seconds from `H:MM:SS.mmm`, `MM:SS.mmm` (a comma as the decimal mark too) or a number;
    None when empty, malformed, negative or not finite."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip()
        m = _CLOCK.match(text)
        if m:
            hours, minutes, secs = m.groups()
            if int(minutes) >= 60 or float(secs.replace(",", ".")) >= 60:
                return None
            seconds = int(hours or 0) * 3600 + int(minutes) * 60 + float(secs.replace(",", "."))
        else:
            try:
                seconds = float(text)
            except (ValueError, OverflowError):
                return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def parse_list(value, what: str) -> list:
    """A list cell: a list already (JSONL, Parquet), or its text as JSON or as a Python literal.
    Raises ValueError naming `what` when it is none of these, or when it is over MAX_LIST_CHARS
    however it arrived (a list is measured as the JSON text it would be)."""
    if isinstance(value, list | tuple):
        size = len(json.dumps(value, default=str))
        if size > MAX_LIST_CHARS:
            raise ValueError(f"{what} is a list of {size:,} characters as JSON (at most {MAX_LIST_CHARS:,})")
        return list(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} is empty")
    text = value.strip()
    if len(text) > MAX_LIST_CHARS:
        raise ValueError(f"{what} is {len(text):,} characters long (at most {MAX_LIST_CHARS:,})")
    for parse in (json.loads, ast.literal_eval):  # literal_eval evaluates literals only, never code
        try:
            parsed = parse(text)
        except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
            continue
        if isinstance(parsed, list | tuple):
            return list(parsed)
    raise ValueError(f"{what} is not a list: {text[:60]!r}")
