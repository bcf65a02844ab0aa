"""Mixing recipes: which sources go into a hybrid corpus and how many clips of each.

A recipe is YAML:

    name: my_mix
    keep_labels: false      # true keeps label ids and writes .cls members
    repeat: false           # true fills a short source by repeating its clips
    total: 100000           # only needed when sources give weights
    min_motion: 1.0         # optional: clips that move less (title cards, slides) stay out
    sources:
      k710:   {quota: 60000}   # a number of clips ...
      webvid: {weight: 0.4, min_motion: 2.0}   # ... or a share of `total`; a floor of its own

Built-in recipes live beside this file (unlabeled_hybrid, labeled_hybrid).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

RECIPES_DIR = Path(__file__).parent / "recipes"


class RecipeError(ValueError):
    """A recipe that cannot be used, with what is wrong and where."""


@dataclass(frozen=True)
class Recipe:
    name: str
    quotas: dict[str, int]  # clips wanted per source, before --scale
    keep_labels: bool
    repeat: bool
    description: str = ""
    min_motion: float | None = None  # clips whose motion score is lower are left out
    source_min_motion: dict[str, float] = field(default_factory=dict)  # per source, over min_motion

    def scaled(self, scale: float) -> dict[str, int]:
        return {k: max(0, round(v * scale)) for k, v in self.quotas.items()}

    def motion_floor(self, source: str) -> float | None:
        return self.source_min_motion.get(source, self.min_motion)


def builtin_names() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


# A clip count no recipe means: larger numbers are typos (or crafted) and would overflow the sampling.
MAX_CLIPS = 10**9


def _number(where: str, key: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RecipeError(f"{where}: '{key}' must be a number, got {value!r}")
    if value < 0:
        raise RecipeError(f"{where}: '{key}' must not be negative, got {value}")
    if value > MAX_CLIPS:
        raise RecipeError(f"{where}: '{key}' is {value:g}; at most {MAX_CLIPS:g}")
    return float(value)


def parse_recipe(doc: dict, where: str) -> Recipe:
    if not isinstance(doc, dict) or not isinstance(doc.get("sources"), dict) or not doc["sources"]:
        raise RecipeError(f"{where}: a recipe needs a 'sources' mapping of source name to quota or weight")
    quotas: dict[str, int] = {}
    weights, floors = {}, {}
    for name, spec in doc["sources"].items():
        if not isinstance(spec, dict) or not ({"quota", "weight"} & set(spec)):
            raise RecipeError(f"{where}: source '{name}' needs 'quota' (clips) or 'weight' (share of total)")
        if "quota" in spec:
            quotas[name] = round(_number(f"{where}: source '{name}'", "quota", spec["quota"]))
        else:
            weights[name] = _number(f"{where}: source '{name}'", "weight", spec["weight"])
        if spec.get("min_motion") is not None:
            floors[name] = _number(f"{where}: source '{name}'", "min_motion", spec["min_motion"])
    if weights:
        total = _number(where, "total", doc.get("total"))
        wsum = sum(weights.values())
        if wsum <= 0:
            raise RecipeError(f"{where}: weights must not all be zero")
        quotas.update({k: round(total * w / wsum) for k, w in weights.items()})
    return Recipe(name=str(doc.get("name") or Path(where).stem), quotas=quotas,
                  keep_labels=bool(doc.get("keep_labels", False)), repeat=bool(doc.get("repeat", False)),
                  description=str(doc.get("description", "")),
                  min_motion=None if doc.get("min_motion") is None else _number(where, "min_motion", doc["min_motion"]),
                  source_min_motion=floors)


def load_recipe(name_or_path: str | Path) -> Recipe:
    """A built-in recipe by name, or a recipe file."""
    path = Path(name_or_path)
    if not path.is_file():
        path = RECIPES_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise RecipeError(f"no recipe file '{name_or_path}' and no built-in recipe of that name "
                          f"(built-in: {', '.join(builtin_names())})")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise RecipeError(f"{path}: not valid YAML ({e})") from e
    return parse_recipe(doc, str(path))
