"""Conformance of every registered corpus component (sources, fetchers, steps, filters, executors),
as the trainer's registries are tested: each declares its options one way, each setting says
whether it changes the output, and each is an option of the commands, generated from there."""

from __future__ import annotations

import dataclasses

import pytest
from typer.testing import CliRunner

from cli.main import app
from corpus.config import components, configure_build, executor_sections
from corpus.executors import EXECUTORS
from corpus.fetchers import FETCHERS
from corpus.options import BuildOptions
from corpus.pipeline import STEPS
from corpus.sources import SOURCES
from corpus.steps.base import Step
from corpus.steps.filters import FILTERS
from manifests.options import described_fields, sections

STEP_CLASSES = sorted({s for chain in STEPS.values() for s in chain}, key=lambda s: s.name)
EVERY = ([("source", s) for s in SOURCES.values()] + [("fetcher", f) for f in FETCHERS.values()]
         + [("step", s) for s in STEP_CLASSES] + [("filter", f) for f in FILTERS.values()]
         + [("executor", e) for e in EXECUTORS.values()])
runner = CliRunner()


def _help(command: str) -> str:
    return " ".join(runner.invoke(app, ["corpus", command, "--help"], env={"COLUMNS": "400"}).output.split())


@pytest.mark.parametrize(("kind", "component"), EVERY, ids=[f"{k}-{c.name}" for k, c in EVERY])
def test_every_component_owns_frozen_options_declared_with_help_and_output(kind, component):
    options = component.Options
    assert dataclasses.is_dataclass(options) and options.__dataclass_params__.frozen
    options()  # every setting has a default
    assert {f.name for f in dataclasses.fields(options)} == {f.name for f in described_fields(options)}, \
        "every field is declared with option(), with its help"
    for f in described_fields(options):
        assert f.metadata["help"].strip(), f.name
        assert isinstance(f.metadata["output"], bool), f"{component.name}.{f.name}: say output=True or False"
    if kind in ("source", "filter"):  # a source's options decide the plan; a filter's, what is kept
        assert all(f.metadata["output"] for f in described_fields(options))
    if kind == "filter":
        assert issubclass(component, Step) and component.on in ("rows", "clips")
    if kind == "source":
        assert component.fetcher in FETCHERS and component.media in STEPS


def test_sections_are_unique_and_flat_names_name_one_setting():
    """A setting is given by its name alone (flag or YAML key): no two sections share a name."""
    with_options = [c for c in components() if described_fields(c.Options)]
    assert len({c.section for c in with_options}) == len(with_options)
    names = [f.name for cls in [*sections(BuildOptions).values(), *(c.Options for c in with_options)]
             for f in described_fields(cls)]
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})


@pytest.mark.parametrize("command", ["build", "mix", "dedup"])
def test_every_setting_is_an_option_of_the_generated_commands(command):
    shown = _help(command)
    classes = {"build": [*sections(BuildOptions).values(), *(c.Options for c in components())],
               "mix": [*executor_sections().values()], "dedup": [*executor_sections().values()]}[command]
    if command != "build":
        from corpus.dedup.run import DedupOptions
        from corpus.mix.run import MixOptions

        config = MixOptions if command == "mix" else DedupOptions
        classes += [*sections(config).values(), config]
    for cls in classes:
        for f in described_fields(cls):
            flag = f.metadata.get("flag")
            flag = flag if isinstance(flag, str) else "--" + f.name.replace("_", "-")
            assert flag in shown and f.metadata["help"].split()[0] in shown, (command, f.name)
    if command == "build":
        for name in SOURCES:
            assert name in shown
        for name in FILTERS:
            assert f"{name} (" in shown


def test_a_yaml_file_gives_settings_by_name_or_section_and_the_command_line_wins(tmp_path):
    settings = {"source": "movies", "inputs": [str(tmp_path)], "out": str(tmp_path / "c"), "crf": 30,
                "media": {"short_side": 128}, "filters": [{"sharpness": {"min_sharpness": 5}}],
                "mirror": None}
    options = configure_build({"crf": 28}, settings)
    assert options.of(STEPS["video"][2]).crf == 28 and options.media.short_side == 128
    assert options.of(STEPS["video"][2]).clip_seconds == 10.0  # the movies source's preset
    assert options.filters == (("sharpness", {"min_sharpness": 5.0}),)
    (tmp_path / "b.yaml").write_text("source: web\nshort_side: 64\nunknown_setting: 3\n")
    r = runner.invoke(app, ["corpus", "build", "--config", str(tmp_path / "b.yaml"), "-i", "x", "--out", "y"])
    assert r.exit_code == 2 and "'unknown_setting' is not a setting" in r.output
