"""Mixing recipes: which sources go into a hybrid corpus and how many clips of each.

A recipe is YAML:

    name: my_mix
    keep_labels: false      # true keeps label ids and writes .cls members
    repeat: false           # true fills a short source by repeating its clips
    total: 100000           # only needed when sources give weights
    min_motion: 1.0         # optional quality thresholds (manifests/quality.py): min_motion,
    max_frozen: 0.8         # min_sharpness, max_frozen, max_bars, max_overlay; a clip on the wrong
                            # side stays out, accounted for with the signal's reason (too_still, ...)
    max_per_cluster: 500    # optional: at most this many clips of a source from one semantic
                            # cluster (`vmae corpus dedup --embeddings`); the rest are cluster_cap
    sources:
      k710:   {quota: 60000}   # a number of clips ...
      webvid: {weight: 0.4, min_motion: 2.0}   # ... or a share of `total`; thresholds of its own

Built-in recipes live beside this file (unlabeled_hybrid, labeled_hybrid).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from manifests.quality import SIGNALS

THRESHOLD_KEYS = {s.key: s for s in SIGNALS.values()}  # min_motion, min_sharpness, max_frozen, ...

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
    thresholds: dict[str, float] = field(default_factory=dict)  # quality thresholds for every source
    source_thresholds: dict[str, dict[str, float]] = field(default_factory=dict)  # per source, over those
    max_per_cluster: int | None = None  # clips of one source from one semantic cluster

    def scaled(self, scale: float) -> dict[str, int]:
        return {k: max(0, round(v * scale)) for k, v in self.quotas.items()}

    def thresholds_of(self, source: str) -> dict[str, float]:
        """The quality thresholds that hold for one source: its own over the recipe's."""
        return self.thresholds | self.source_thresholds.get(source, {})


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
        floors[name] = _thresholds(spec, f"{where}: source '{name}'")
    if weights:
        total = _number(where, "total", doc.get("total"))
        wsum = sum(weights.values())
        if wsum <= 0:
            raise RecipeError(f"{where}: weights must not all be zero")
        quotas.update({k: round(total * w / wsum) for k, w in weights.items()})
    return Recipe(name=str(doc.get("name") or Path(where).stem), quotas=quotas,
                  keep_labels=bool(doc.get("keep_labels", False)), repeat=bool(doc.get("repeat", False)),
                  description=str(doc.get("description", "")),
                  thresholds=_thresholds(doc, where), source_thresholds={k: v for k, v in floors.items() if v},
                  max_per_cluster=None if doc.get("max_per_cluster") is None
                  else max(1, round(_number(where, "max_per_cluster", doc["max_per_cluster"]))))


def _thresholds(spec: dict, where: str) -> dict[str, float]:
    return {key: _number(where, key, spec[key]) for key in THRESHOLD_KEYS if spec.get(key) is not None}


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
