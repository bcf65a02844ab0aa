"""Figures a noisy neighbour cannot fool (bench/ scripts and `vmae bench`): each side measured
in turns (A, B, A, B, ...) over several rounds, so that a busy moment of a shared machine slows
both alike, and reported as the median with the spread of its rounds. A spread wider than TOO_WIDE is said in the table
instead of trusted: one afternoon on these 2-core machines read the same script's ratio anywhere
from 0.31 to 5.51."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

Side = TypeVar("Side")  # what is measured in turns: a backend's name, a worker count
TOO_WIDE = 0.25  # (slowest - fastest) / median of a side's rounds


@dataclass(frozen=True)
class Rounds:
    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def spread(self) -> float:
        return (max(self.values) - min(self.values)) / self.median if self.median else 0.0

    @property
    def trusted(self) -> bool:
        return self.spread <= TOO_WIDE

    def describe(self, unit: str = "s", digits: int = 2) -> str:
        return f"{self.median:.{digits}f} {unit} ({spread_text(self.spread, len(self.values))})"


def spread_text(spread: float, rounds: int | None = None) -> str:
    """'spread 12% [over N]', and a warning when it is too wide to trust."""
    over = f" over {rounds}" if rounds is not None else ""
    return f"spread {spread:.0%}{over}{', too wide to trust' if spread > TOO_WIDE else ''}"


def in_turns(measure: Callable[[Side], float], sides: list[Side], rounds: int) -> dict[Side, Rounds]:
    """measure(side) for every side in turn, `rounds` times: each side's values."""
    got: dict[Side, list[float]] = {s: [] for s in sides}
    for _ in range(rounds):
        for side in sides:
            got[side].append(measure(side))
    return {s: Rounds(tuple(v)) for s, v in got.items()}


def ratio_note(*sides: Rounds) -> str:
    """'' when every side's spread is within TOO_WIDE; else why the ratio should not be trusted."""
    wide = [f"{s.spread:.0%}" for s in sides if not s.trusted]
    return "" if not wide else f" (not trusted: a side's rounds spread {', '.join(wide)})"
