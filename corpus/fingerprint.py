"""What a rerun must match to resume a build, derived from the settings' own declarations rather
than listed: the plan (source, inputs and their sizes, the plan section, the source's options)
and the work (every `output=True` setting of the shared sections, of each component the source's
pipeline uses, and of each filter). A new setting that changes clips or shards joins the
fingerprint by being declared so."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from corpus.fetchers import FETCHERS
from corpus.options import BuildOptions
from corpus.pipeline import STEPS
from corpus.sources import SOURCES
from corpus.steps.filters import FILTERS, filter_options
from manifests.options import described_fields, output_values

SHARED_WORK = ("media", "download", "shard")  # the shared sections whose output settings shape clips and shards


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def plan_values(options: BuildOptions) -> dict:
    source = SOURCES[options.source]
    outputs = {f.name for f in described_fields(source.Options) if f.metadata["output"]}
    return {"source": options.source, "inputs": options.inputs, **output_values(options.plan),
            "source_options": {k: v for k, v in options.source_options.items() if k in outputs}}


def work_sections(options: BuildOptions) -> dict[str, object]:
    """The sections whose output settings shape this build's clips and shards: the shared ones,
    and those of the steps and the fetcher its source uses."""
    source = SOURCES[options.source]
    used = [*STEPS[source.media], FETCHERS[source.fetcher]]
    return {name: getattr(options, name) for name in SHARED_WORK} | \
        {c.section: options.of(c) for c in used if described_fields(c.Options)}


def work_values(options: BuildOptions) -> dict:
    values = {name: output_values(section) for name, section in work_sections(options).items()}
    values["filters"] = [[name, output_values(filter_options(name, given, f"filter {name}"))]
                         for name, given in options.filters if name in FILTERS]
    return values


def fingerprints(options: BuildOptions) -> dict:
    """{"plan": digest, "work": digest}, as build.json keeps them."""
    sizes = [(p, Path(p).stat().st_size if Path(p).is_file() else None) for p in options.inputs]
    return {"plan": _digest([plan_values(options), sizes]), "work": _digest(work_values(options))}


def changed(before: dict, now: dict, prefix: str = "") -> list[str]:
    """The settings (section.name) whose values differ between two work_values documents."""
    out = []
    for key in sorted(set(before) | set(now)):
        a, b = before.get(key), now.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += changed(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}")
    return out
