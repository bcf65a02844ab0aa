"""Recipes and `vmae corpus mix`: quotas, shortfalls, dedup drops, interleaving, copying members
as they are, provenance, labels kept or dropped, and the errors a user meets."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time

import pandas as pd
import pyarrow as pa
import pytest

from corpus.compact import write_table
from corpus.dedup.run import dedup
from corpus.errors import InputError
from corpus.mix.run import MixOptions, mix
from corpus.options import ExecutorOptions, ShardOptions
from corpus.synthetic import make_video
from manifests.layout import CorpusLayout
from manifests.recipe import RecipeError, load_recipe, parse_recipe
from manifests.tables import read_table
from manifests.validate import validate
from tests.helpers import build_corpus, check_corpus

SHARD_30K = ShardOptions(shard_bytes=30_000)


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    d = tmp_path_factory.mktemp("mix")
    film = make_video(d / "film.mp4", pattern="mandelbrot", seconds=12, width=192, height=108, fps=15)
    (d / "films").mkdir()
    for k in range(2):
        (d / "films" / f"f{k}.mp4").write_bytes(film.read_bytes())  # exact copies
    build_corpus(d / "movies", "movies", [d / "films"], clip={"clip_seconds": 2})  # 12 clips, 6 unique
    ann = d / "kinetics-400_train.csv"
    rows = [f"{'ab'[k % 2]},vid{k:08d},{k % 3},{k % 3 + 1},train" for k in range(8)]
    ann.write_text("label,youtube_id,time_start,time_end,split\n" + "\n".join(rows) + "\n")
    (d / "mirror").mkdir()
    for k in range(8):  # eight different videos
        make_video(d / "mirror" / f"vid{k:08d}_{k % 3:06d}_{k % 3 + 1:06d}.mp4", pattern=f"scene{20 + k}",
                   seconds=1.2, width=128, height=72, fps=15)
    build_corpus(d / "kin", "kinetics", [ann], source_options={"mirror": str(d / "mirror")}, clip={"short_side": 64})
    dedup([d / "movies", d / "kin"])
    return d


def recipe_file(path, text):
    path.write_text(text)
    return str(path)


def test_builtin_recipes():
    u = load_recipe("unlabeled_hybrid")
    assert u.quotas == {"k710": 658000, "ssv2": 169000, "ava": 21000, "webvid": 250000, "instagram": 250000}
    assert sum(u.quotas.values()) == 1_348_000 and not u.keep_labels
    assert load_recipe("labeled_hybrid").keep_labels
    umt = {n: sum(load_recipe(f"umt_{n}").quotas.values()) / 1e6 for n in ("5m", "17m", "25m")}
    assert umt == pytest.approx({"5m": 5, "17m": 17, "25m": 25}, rel=0.1)


def test_recipe_errors(tmp_path):
    with pytest.raises(RecipeError, match="must not be negative"):
        parse_recipe({"sources": {"a": {"quota": -1}}}, "r.yaml")
    with pytest.raises(RecipeError, match="must be a number"):
        parse_recipe({"sources": {"a": {"quota": "many"}}}, "r.yaml")
    with pytest.raises(RecipeError, match="needs 'quota'"):
        parse_recipe({"sources": {"a": 3}}, "r.yaml")
    with pytest.raises(RecipeError, match="built-in"):
        load_recipe("no_such_recipe")
    r = parse_recipe({"total": 100, "sources": {"a": {"weight": 3}, "b": {"weight": 1}}}, "r.yaml")
    assert r.quotas == {"a": 75, "b": 25}


def test_unlabeled_mix_round_trip(tmp_path, corpora):
    recipe = recipe_file(tmp_path / "r.yaml", "sources:\n  films: {quota: 10}\n  kin: {quota: 6}\n")
    s = mix(MixOptions(recipe=recipe, inputs={"films": str(corpora / "movies"), "kin": str(corpora / "kin")},
                       out=str(tmp_path / "out"), shard=ShardOptions(_third_of(corpora))), progress=False)
    assert s["mix"]["films"] == {"quota": 10, "available": 12, "dropped_by_dedup": 6, "kept_out": {},
                                 "selected": 6, "shortfall": 4}
    assert s["mix"]["kin"]["selected"] == 6 and s["mix"]["kin"]["shortfall"] == 0
    clips = check_corpus(tmp_path / "out")
    assert len(clips) == 12 and clips.label_id.isna().all()
    videos = pd.read_parquet(tmp_path / "out" / "videos")
    assert len(videos) == 12 + 8  # every candidate clip accounted for
    assert dict(videos.groupby("error_kind").size()) == {"duplicate": 6, "over_quota": 2}
    # provenance, and members copied byte for byte
    src = pd.concat([pd.read_parquet(corpora / n / "clips") for n in ("movies", "kin")]).set_index("clip_key")
    assert (clips.set_index("origin_key").sha256 == src.loc[clips.origin_key, "sha256"]).all()
    with tarfile.open(tmp_path / "out" / clips.shard[0]) as tar:
        names = tar.getnames()
        meta = json.loads(tar.extractfile(next(n for n in names if n.endswith(".json"))).read())
    assert not any(n.endswith(".cls") for n in names)  # an unlabeled mix carries no labels
    assert {"origin_corpus", "origin_key"} <= set(meta)
    # sources interleaved: with two or more shards, every shard holds both sources
    by_shard = clips.groupby("shard").source.nunique()
    assert len(by_shard) >= 2 and (by_shard == 2).all()


def test_labeled_mix_keeps_labels_and_repeats_when_asked(tmp_path, corpora):
    recipe = recipe_file(tmp_path / "r.yaml", "keep_labels: true\nrepeat: true\nsources:\n  kin: {quota: 10}\n")
    s = mix(MixOptions(recipe=recipe, inputs={"kin": str(corpora / "kin")}, out=str(tmp_path / "out")),
            progress=False)
    assert s["mix"]["kin"]["selected"] == 10
    clips = check_corpus(tmp_path / "out")
    assert clips.label_id.notna().all() and clips.clip_key.is_unique
    assert clips.clip_key.str.contains("-r1").sum() == 2
    with tarfile.open(tmp_path / "out" / clips.shard[0]) as tar:
        cls = [n for n in tar.getnames() if n.endswith(".cls")]
        assert len(cls) == 10 and int(tar.extractfile(cls[0]).read()) in (0, 1)


def test_scale_and_seed(tmp_path, corpora):
    recipe = recipe_file(tmp_path / "r.yaml", "sources:\n  kin: {quota: 600}\n")
    runs = []
    for k, seed in enumerate((1, 1, 2)):
        mix(MixOptions(recipe=recipe, inputs={"kin": str(corpora / "kin")}, out=str(tmp_path / f"o{k}"),
                       scale=0.005, seed=seed), progress=False)
        runs.append(list(pd.read_parquet(tmp_path / f"o{k}" / "clips").origin_key))
    assert len(runs[0]) == 3 and runs[0] == runs[1] and validate(tmp_path / "o2").ok


def test_mix_errors_write_nothing(tmp_path, corpora):
    recipe = recipe_file(tmp_path / "r.yaml", "sources:\n  films: {quota: 1}\n  kin: {quota: 1}\n")
    with pytest.raises(InputError, match=r"needs source\(s\) \['films'\]"):
        mix(MixOptions(recipe=recipe, inputs={"kin": str(corpora / "kin")}, out=str(tmp_path / "o")))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(InputError, match="is not empty"):
        mix(MixOptions(recipe=recipe, inputs={"films": str(corpora / "movies"), "kin": str(corpora / "kin")},
                       out=str(tmp_path / "full")))
    with pytest.raises(InputError, match="not a vmae corpus"):
        mix(MixOptions(recipe=recipe, inputs={"films": str(tmp_path), "kin": str(corpora / "kin")},
                       out=str(tmp_path / "o")))
    bad = recipe_file(tmp_path / "bad.yaml", "sources:\n  kin: {quota: -5}\n")
    with pytest.raises(InputError, match="must not be negative"):
        mix(MixOptions(recipe=bad, inputs={"kin": str(corpora / "kin")}, out=str(tmp_path / "o")))
    assert not (tmp_path / "o").exists() and not list(tmp_path.glob(".o.mix-*"))


def _third_of(corpora) -> int:
    """A shard size that splits the 12 selected clips into about three shards."""
    sizes = pd.concat([pd.read_parquet(corpora / n / "clips") for n in ("movies", "kin")]).bytes
    return int(sizes.mean() * 4 + 4 * 3072)


def test_report_png_and_html(tmp_path, corpora):
    from PIL import Image

    from corpus.report import report
    png, page = report([corpora / "movies", corpora / "kin"], tmp_path / "r" / "report.png")
    with Image.open(png) as im:
        assert im.size[0] > 1000 and im.size[1] > 600
    text = page.read_text()
    assert "data:image/png;base64," in text and "movies, kin" in text
    with pytest.raises(InputError, match="not a vmae corpus"):
        report([tmp_path], tmp_path / "x.png")


def shards_of(root):
    shards = pd.read_parquet(root / "shards").sort_values("shard")
    return list(zip(shards.shard, shards.sha256, shards.clips, strict=True))


DELAYS = (1.2, 1.6)  # seconds after the start at which the mix is killed


def test_parallel_units_make_the_same_mix_and_a_killed_mix_resumes_to_it(corpora, tmp_path):
    recipe = recipe_file(tmp_path / "r.yaml", "sources:\n  m: {quota: 6}\n  k: {quota: 8}\n")
    inputs = {"m": str(corpora / "movies"), "k": str(corpora / "kin")}
    one = mix(MixOptions(recipe=recipe, inputs=inputs, out=str(tmp_path / "one"), shard=SHARD_30K), progress=False)
    mix(MixOptions(recipe=recipe, inputs=inputs, out=str(tmp_path / "two"), shard=SHARD_30K,
                   executor=ExecutorOptions(workers=2)),
        progress=False)
    assert one["shards"] > 4 and shards_of(tmp_path / "one") == shards_of(tmp_path / "two")  # same bytes
    argv = [sys.executable, "-m", "cli.main", "corpus", "mix", "--recipe", recipe, "--input", f"m={inputs['m']}",
            "--input", f"k={inputs['k']}", "--out", str(tmp_path / "killed"), "--shard-bytes", "30000", "--no-progress"]
    for delay in DELAYS:  # kill at several moments, then resume each time
        proc = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = subprocess.run(argv, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert shards_of(tmp_path / "killed") == shards_of(tmp_path / "one") and validate(tmp_path / "killed").ok
    assert not any(p.name.startswith(".") and p.suffix == ".tmp" for p in (tmp_path / "killed" / "tars").iterdir())


def test_keys_and_shards_that_would_leave_their_folders_are_refused(corpora, tmp_path):
    recipe = recipe_file(tmp_path / "r.yaml", "sources:\n  m: {quota: 12}\n")
    for column, value, message in (("clip_key", "../../escaped", "has a dot or a path separator"),
                                   ("shard", "../../elsewhere.tar", "lies outside the corpus folder")):
        bad = tmp_path / f"bad_{column}"
        shutil.copytree(corpora / "movies", bad)
        shutil.rmtree(bad / "dedup")  # its verdicts name the keys as they were
        clips = read_table(bad, "clips").to_pandas()
        clips.loc[0, column] = value
        write_table(CorpusLayout.at(bad), "clips", pa.Table.from_pandas(clips, preserve_index=False))
        with pytest.raises(InputError, match=message):
            mix(MixOptions(recipe=recipe, inputs={"m": str(bad)}, out=str(tmp_path / f"out_{column}")), progress=False)
        assert not (tmp_path / f"out_{column}").exists() and not (tmp_path / "escaped.mp4").exists()


def test_a_mix_killed_while_it_starts_starts_again(corpora, tmp_path, monkeypatch):
    """Killed after build.json and the videos table but before the plan marker (no unit ran yet):
    the same command starts the mix over instead of calling the folder someone else's."""
    import corpus.mix.run as mix_run

    recipe = recipe_file(tmp_path / "r.yaml", "sources:\n  m: {quota: 6}\n")
    opts = MixOptions(recipe=recipe, inputs={"m": str(corpora / "movies")}, out=str(tmp_path / "c"), shard=SHARD_30K)
    real_write = mix_run.write_atomic_bytes

    def killed_at_the_marker(path, data):
        if path.name == "plan.json":
            raise KeyboardInterrupt
        real_write(path, data)

    monkeypatch.setattr(mix_run, "write_atomic_bytes", killed_at_the_marker)
    with pytest.raises(KeyboardInterrupt):
        mix(opts, progress=False)
    assert (tmp_path / "c" / "build.json").is_file() and not (tmp_path / "c" / "done" / "plan.json").exists()
    monkeypatch.setattr(mix_run, "write_atomic_bytes", real_write)
    mix(opts, progress=False)
    reference = mix(MixOptions(**{**opts.__dict__, "out": str(tmp_path / "reference")}), progress=False)
    assert shards_of(tmp_path / "c") == shards_of(tmp_path / "reference") and reference["shards"] > 1
    assert validate(tmp_path / "c").ok


def test_plan_only_writes_the_plan_and_copies_nothing_then_the_same_command_mixes_it(corpora, tmp_path):
    recipe = recipe_file(tmp_path / "r.yaml", "sources:\n  m: {quota: 9}\n  k: {quota: 8}\n")
    out = tmp_path / "planned"
    argv = [sys.executable, "-m", "cli.main", "corpus", "mix", "--recipe", recipe, "--input",
            f"m={corpora / 'movies'}", "--input", f"k={corpora / 'kin'}", "--out", str(out), "--shard-bytes", "30000",
            "--no-progress"]
    planned = subprocess.run([*argv, "--plan-only"], capture_output=True, text=True)
    assert planned.returncode == 0, planned.stderr[-2000:]
    assert "SHORT by 3" in planned.stdout and "nothing copied" in planned.stdout
    assert sorted(p.name for p in out.iterdir() if p.name != ".lock") == ["mix-plan-shards.parquet", "mix-plan.json"]
    plan = json.loads((out / "mix-plan.json").read_text())
    shards = pd.read_parquet(out / "mix-plan-shards.parquet")
    assert plan["planned_clips"] == 14 == shards.clips.sum() and plan["shards"] == len(shards) > 2
    assert plan["mix"]["m"] == {"quota": 9, "available": 12, "dropped_by_dedup": 6, "kept_out": {}, "selected": 6,
                                "shortfall": 3}
    done = subprocess.run(argv, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((out / "build.json").read_text())["plan_digest"] == plan["plan_digest"]
    clips = check_corpus(out)
    made = clips.groupby("shard").size()
    assert list(made.index) == list(shards.shard) and list(made) == list(shards.clips)
    assert clips.groupby("shard").bytes.sum().tolist() == shards.bytes.tolist()
    assert plan["planned_bytes"] == clips.bytes.sum()
    assert not (out / ".work").exists()  # the planned rows of each unit are gone once the mix is complete
