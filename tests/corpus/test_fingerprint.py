"""The resume fingerprint is derived from the settings' declarations: every setting declared
`output=True` of a section the build uses changes it, and no other setting does."""

from __future__ import annotations

import dataclasses
import json
import typing

import pytest

from corpus.config import configure_build
from corpus.errors import InputError
from corpus.fingerprint import fingerprints, work_sections
from corpus.sources import SOURCES
from corpus.steps.filters import FILTERS, parse_filter
from manifests.options import described_fields, without_none


def _flipped(section, f: dataclasses.Field):
    """`section` with field `f` set to another value its class accepts."""
    value = getattr(section, f.name)
    kind = without_none(typing.get_type_hints(type(section))[f.name])
    if kind is bool:
        candidates = [not value]
    elif kind in (int, float):
        candidates = [kind(1) if value is None else kind(value * 2 + 1)]
    elif typing.get_origin(kind) is tuple:
        candidates = [(*value, "400=x.txt")]
    else:
        candidates = ["shots", "ray", "pretrain", "x" if value is None else f"{value}x"]
    for candidate in candidates:
        with_it = _replaced(section, f.name, candidate)
        if with_it is not None and getattr(with_it, f.name) != value:
            return with_it
    raise AssertionError(f"no other value for {type(section).__name__}.{f.name}")


def _replaced(section, name, value):
    try:
        return dataclasses.replace(section, **{name: value})
    except InputError:
        return None


def _options(source: str, tmp_path):
    return configure_build({"source": source, "inputs": [tmp_path / "in.csv"], "out": tmp_path / "c",
                            "filters": ["sharpness"]})


def _with(options, name: str, section):
    if name in options.components:
        return dataclasses.replace(options, components={**options.components, name: section})
    return dataclasses.replace(options, **{name: section})


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_each_output_setting_changes_the_work_fingerprint_and_no_other_does(source, tmp_path):
    options = _options(source, tmp_path)
    # from the classes' defaults (a source's presets may rule out a value: movies' windows, shots)
    options = dataclasses.replace(options, components={k: type(v)() for k, v in options.components.items()})
    before = fingerprints(options)
    checked = 0
    for name, section in work_sections(options).items():
        for f in described_fields(type(section)):
            after = fingerprints(_with(options, name, _flipped(section, f)))
            assert after["plan"] == before["plan"], f"{name}.{f.name} changed the plan fingerprint"
            assert (after["work"] != before["work"]) == f.metadata["output"], f"{name}.{f.name}"
            checked += 1
    assert checked >= 12  # media, download, shard and the source's own steps and fetcher


def test_plan_settings_source_options_and_filters_are_in_their_fingerprints(tmp_path):
    options = _options("kinetics", tmp_path)
    before = fingerprints(options)
    for f in described_fields(type(options.plan)):
        assert fingerprints(_with(options, "plan", _flipped(options.plan, f)))["plan"] != before["plan"], f.name
    mirrored = dataclasses.replace(options, source_options={"mirror": str(tmp_path)})
    assert fingerprints(mirrored)["plan"] != before["plan"]
    for name, kind in FILTERS.items():
        (key,) = [f.name for f in described_fields(kind.Options)]
        stricter = dataclasses.replace(options, filters=(parse_filter(f"{name}:{key}=7"),))
        assert fingerprints(stricter)["work"] != fingerprints(
            dataclasses.replace(options, filters=(parse_filter(name),)))["work"], name


def test_a_resume_with_another_output_setting_names_it(tmp_path, server):
    from tests.helpers import build_corpus

    url_list = tmp_path / "list.csv"
    url_list.write_text(f"url\n{server}/a.mp4\n")
    build_corpus(tmp_path / "c", "web", [url_list])
    build_corpus(tmp_path / "c", "web", [url_list], workers=2)  # not an output setting: resumes
    with pytest.raises(InputError, match=r"other settings \(clip\.crf, media\.short_side\)"):
        build_corpus(tmp_path / "c", "web", [url_list], crf=30, short_side=64)
    doc = json.loads((tmp_path / "c" / "build.json").read_text())
    assert doc["output_settings"]["clip"]["crf"] == 23
