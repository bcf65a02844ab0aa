"""Quality signals and filter steps: each signal answers cases with a known answer (a blurred
copy, a still picture, wide bars, a burned-in caption), and a filter keeps a clip out with its
reason in rejects/, videos/, the step's stats and build.json, never losing it."""

import io
import json

import ffmpeg
import pandas as pd
import pytest
from PIL import Image

from corpus.errors import InputError
from corpus.report import report
from corpus.steps.filters import FILTERS, parse_filter
from corpus.steps.filters.base import PREVIEW_HEIGHT
from corpus.synthetic import make_video
from manifests.quality import SIGNALS
from tests.helpers import build_corpus, check_corpus

CASES = {
    "blurred": {"vf": "gblur=sigma=3"},
    "still": {"vf": "select='eq(n\\,0)',loop=loop=100:size=1,setpts=N/25/TB"},
    "bars": {"vf": "scale=iw:trunc(ih*0.55/2)*2,pad=iw:trunc(ih/0.55/2)*2:0:(oh-ih)/2"},
    "caption": {"vf": "drawtext=text='BREAKING caption text':fontcolor=white:fontsize=h/9:borderw=2:x=(w-tw)/2:"
                      "y=h*0.8"},
}


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    d = tmp_path_factory.mktemp("quality") / "src"
    orig = make_video(d / "sharp.mp4", pattern="mandelbrot", seconds=2.2, width=320, height=180, fps=25, crf=18)
    for name, out in CASES.items():
        ffmpeg.input(str(orig)).output(str(d / f"{name}.mp4"), vcodec="libx264", pix_fmt="yuv420p", crf=18, t=2.2,
                                       **out).overwrite_output().run(quiet=True)
    return d


def test_each_signal_tells_its_case_from_the_original(tmp_path, cases):
    build_corpus(tmp_path / "c", "movies", [cases], clip={"clip_seconds": 2.0, "short_side": 128})
    q = pd.read_parquet(tmp_path / "c" / "clips").set_index("video_id")
    sharp = q.loc["sharp"]
    assert q.loc["blurred", "sharpness"] < SIGNALS["sharpness"].default < sharp.sharpness
    assert q.loc["still", "frozen"] > SIGNALS["frozen"].default > sharp.frozen
    assert q.loc["bars", "bars"] > SIGNALS["bars"].default > sharp.bars
    assert q.loc["caption", "overlay"] > SIGNALS["overlay"].default > sharp.overlay
    assert q.loc["still", "motion"] < SIGNALS["motion"].default < sharp.motion
    assert q.loc["bars", "sharpness"] > SIGNALS["sharpness"].default  # the bars are left out of the others


def test_filters_keep_clips_out_with_reasons_and_lose_nothing(tmp_path, cases):
    filters = tuple(parse_filter(f) for f in ("sharpness", "frozen", "bars", "overlay"))
    build_corpus(tmp_path / "c", "movies", [cases], clip={"clip_seconds": 1.0},
                 filters=filters)
    root = tmp_path / "c"
    clips = check_corpus(root)  # the tars hold exactly the kept clips
    assert set(clips.video_id) == {"sharp"}
    rejects = pd.read_parquet(root / "rejects")
    assert dict(zip(rejects.video_id, rejects.reason, strict=False)) == {
        "blurred": "blurry", "still": "frozen", "bars": "letterboxed", "caption": "overlaid"}
    assert len(rejects) == 8 and rejects.clip_key.notna().all()  # two 1 s windows each
    # each dropped clip keeps a contact sheet of 4 frames (its file is gone): the report shows them
    for preview in rejects.preview:
        with Image.open(io.BytesIO(preview)) as sheet:
            assert sheet.format == "JPEG" and sheet.height == PREVIEW_HEIGHT and sheet.width > 3 * PREVIEW_HEIGHT
    _, page = report([root], tmp_path / "report.png")
    strip = page.read_text().split("dropped by the sharpness filter as blurry: 2 clips</h3>")[1].split("<h")[0]
    assert strip.count("data:image/jpeg;base64,") == 2
    videos = pd.read_parquet(root / "videos").set_index("video_id")
    assert videos.loc["sharp", "status"] == "ok" and videos.loc["sharp", "clips"] == 2
    for name, reason in (("blurred", "blurry"), ("bars", "letterboxed")):
        assert videos.loc[name, "status"] == "skipped" and videos.loc[name, "error_kind"] == reason
        assert videos.loc[name, "clips"] == 0
    steps = json.loads((root / "build.json").read_text())["counts"]["steps"]
    assert steps["sharpness"]["blurry"] == 2 and steps["overlay"]["overlaid"] == 2
    assert steps["sharpness"]["kept"] == 8  # every clip went through the first filter
    # a rerun with another threshold would mix clips filtered two ways: refused
    with pytest.raises(InputError, match="filter"):
        build_corpus(root, "movies", [cases], clip={"clip_seconds": 1.0},
                     filters=["sharpness:min_sharpness=1"])


def test_a_row_filter_drops_before_download(tmp_path):
    from corpus.steps.base import Task

    caption = FILTERS["caption"](FILTERS["caption"].Options(min_words=2))
    rows = [{"row": 0, "video_id": "a", "caption": "a dog runs", "status": "pending"},
            {"row": 1, "video_id": "b", "caption": "video", "status": "pending"}]
    (task,) = caption.run([Task(unit="u0", rows=rows, workdir=str(tmp_path))])
    assert rows[0]["status"] == "pending" and rows[1]["status"] == "skipped"
    assert rows[1]["error_kind"] == "short_caption" and task.rejects[0]["clip_key"] is None
    assert task.stats["caption"]["kept"] == 1 and task.stats["caption"]["short_caption"] == 1


@pytest.mark.parametrize(("spec", "message"), [
    ("sharp", "no filter 'sharp'"), ("sharpness:min=3", "no option 'min'"),
    ("sharpness:min_sharpness=high", "is not a float")])
def test_filter_specs_are_checked(spec, message):
    with pytest.raises(InputError, match=message):
        parse_filter(spec)


def test_recipes_hold_each_source_to_its_own_thresholds(tmp_path, cases):
    from corpus.mix.run import MixOptions, mix

    build_corpus(tmp_path / "c", "movies", [cases], clip={"clip_seconds": 2.0})
    recipe = tmp_path / "r.yaml"
    recipe.write_text("max_bars: 0.35\nsources:\n  q: {quota: 100, min_sharpness: 3.0, max_overlay: 0.01}\n")
    summary = mix(MixOptions(recipe=str(recipe), inputs={"q": str(tmp_path / "c")}, out=str(tmp_path / "m")),
                  progress=False)
    mixed = check_corpus(tmp_path / "m")
    assert sorted(mixed.video_id) == ["sharp", "still"]
    assert summary["mix"]["q"]["kept_out"] == {"blurry": 1, "letterboxed": 1, "overlaid": 1}
    videos = pd.read_parquet(tmp_path / "m" / "videos").set_index("error_kind")
    assert videos.loc["letterboxed", "error"].startswith("kept out by the recipe: bars 0.")
