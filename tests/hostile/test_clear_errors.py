"""Crafted values in inputs get a one-line error naming what and where, never a traceback: a
JSONL line nested 100,000 deep or holding a 5,000-digit integer is one bad row; source options
given as KEY=VALUE are read as their type; a recipe cannot ask for more clips than fit in memory."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from corpus.errors import InputError
from corpus.mix.run import MixOptions, mix
from corpus.sources.kinetics import KineticsSource
from manifests.recipe import RecipeError, parse_recipe

runner = CliRunner()


def test_crafted_jsonl_lines_are_bad_rows_and_the_rest_is_planned(tmp_path):
    lines = [json.dumps({"url": "http://127.0.0.1:1/a.mp4", "caption": "fine"}),
             '{"url": "http://127.0.0.1:1/b.mp4", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
             '{"url": "http://127.0.0.1:1/c.mp4", "n": ' + "9" * 5000 + "}",
             json.dumps({"url": "http://127.0.0.1:1/d.mp4", "caption": 12345, "videoid": 10**40}),
             json.dumps({"url": "http://127.0.0.1:1/e.mp4", "caption": {"en": "a dict"}})]
    (tmp_path / "list.jsonl").write_text("\n".join(lines) + "\n")
    r = runner.invoke(app, ["corpus", "build", "--source", "web", "--input", str(tmp_path / "list.jsonl"), "--out",
                            str(tmp_path / "c"), "--plan-only", "--no-progress"])
    assert r.exit_code == 0, r.output
    rows = pd.read_parquet(tmp_path / "c" / "videos").sort_values("row")
    assert list(rows.status) == ["pending", "failed", "failed", "pending", "failed"]
    errors = list(rows.error.fillna(""))
    assert "list.jsonl:2: malformed JSON line: nested too deeply" in errors[1]
    assert "list.jsonl:3: malformed JSON line: Exceeds the limit (4300 digits)" in errors[2]
    assert list(rows.caption)[3] == "12345" and list(rows.video_id)[3] == str(10**40)
    assert "list.jsonl:5: the caption in column 'caption' is a dict, not text" in errors[4]


def test_source_options_given_as_text_are_read_as_their_type():
    opts = KineticsSource.read_options({"version_labels": "400=k400.txt, 600=k600.txt"})
    assert opts.version_labels == ("400=k400.txt", "600=k600.txt")  # not ('4', '0', '0', '=', …)


def test_a_recipe_cannot_ask_for_more_clips_than_a_mix_can_plan(tmp_path):
    with pytest.raises(RecipeError, match=r"'quota' is 1e\+12; at most 1e\+09"):
        parse_recipe({"repeat": True, "sources": {"a": {"quota": 1e12}}}, "r.yaml")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("repeat: true\nsources:\n  a: {quota: 900000000}\n")
    with pytest.raises(InputError, match=r"asks for 900,000,000 clips; .* at most 300,000,000"):
        mix(MixOptions(recipe=str(recipe), inputs={"a": str(tmp_path / "a")}, out=str(tmp_path / "m")))
    with pytest.raises(InputError, match="asks for"):
        mix(MixOptions(recipe=str(recipe), inputs={"a": str(tmp_path / "a")}, out=str(tmp_path / "m"), scale=1e300))
    assert not (tmp_path / "m").exists()
