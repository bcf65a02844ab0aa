"""The objectives' options classes, registered by name (torch-free: the CLI builds its options and
help from them). An objective is its options class here and its implementation beside it; a new one
is those two files and a line in a registry below.

PRETRAIN: stage 1's parts, summable (mae+umt shares one encoder pass). SUPERVISED: stages 2 and 3.
VIDEO_LANGUAGE: UMT's second stage.
"""

from __future__ import annotations

from trainer.errors import ConfigError
from trainer.objectives.options.base import ObjectiveOptions
from trainer.objectives.options.mae import MAEOptions
from trainer.objectives.options.supervised import SupervisedOptions
from trainer.objectives.options.umt import UMTOptions
from trainer.objectives.options.vl import VLOptions

PRETRAIN: dict[str, type[ObjectiveOptions]] = {o.name: o for o in (MAEOptions, UMTOptions)}
SUPERVISED: dict[str, type[ObjectiveOptions]] = {o.name: o for o in (SupervisedOptions,)}
# the video-language stage: its own losses, and UMT's options for its alignment (UMA) to the teacher
VIDEO_LANGUAGE: dict[str, type[ObjectiveOptions]] = {o.name: o for o in (VLOptions, UMTOptions)}


def part_names(objective: str) -> list[str]:
    """'mae+umt' -> ['mae', 'umt'], checked against the stage-1 registry."""
    names = [n.strip() for n in objective.split("+")]
    unknown = [n for n in names if n not in PRETRAIN]
    if unknown or len(set(names)) != len(names):
        raise ConfigError(f"objective {objective!r}: give one or more of {', '.join(PRETRAIN)} joined by '+', "
                          "each once (e.g. mae, umt, mae+umt)")
    return names


def described(registry: dict[str, type[ObjectiveOptions]]) -> str:
    """'mae (dual masking …), umt (…)': the registry's objectives for a help text."""
    return ", ".join(f"{name} ({o.summary})" for name, o in registry.items())


__all__ = ["PRETRAIN", "SUPERVISED", "VIDEO_LANGUAGE", "MAEOptions", "ObjectiveOptions", "SupervisedOptions",
           "UMTOptions", "VLOptions", "described", "part_names"]
