"""Per-step stats: what each step did (outcome counts: ok or an error kind, and seconds), summed
over a unit's tasks into its marker, and over markers into build.json and `vmae corpus status`."""

from __future__ import annotations

from collections import Counter


def unit_stats(tasks: list) -> dict[str, dict]:
    """Per step: outcome counts (ok, or an error kind) and seconds, summed over a unit's tasks."""
    total: dict[str, Counter] = {}
    for task in tasks:
        for step, counts in task.stats.items():
            total.setdefault(step, Counter()).update(counts)
    return {step: {k: round(v, 3) if k == "seconds" else v for k, v in sorted(c.items())}
            for step, c in total.items()}


def add_stats(into: dict[str, dict], stats: dict[str, dict]) -> dict[str, dict]:
    """Sum per-step stats (from markers) into `into`."""
    for step, counts in stats.items():
        merged = Counter(into.get(step, {}))
        merged.update(counts)
        into[step] = {k: round(v, 3) if k == "seconds" else v for k, v in sorted(merged.items())}
    return into
