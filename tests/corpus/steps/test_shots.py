"""--split shots and motion scores: a synthetic film with known cuts is cut at them (±1 frame),
short shots merge and long ones are cut, still shots score below moving ones, and a recipe's
min_motion keeps still clips out of a mix (accounted for as too_still)."""

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpus.errors import InputError
from corpus.media.shots import shot_clips
from corpus.mix.run import MixOptions, mix
from corpus.synthetic import make_film
from manifests.schemas import with_version
from manifests.tables import read_table
from tests.helpers import build_corpus, check_corpus

FPS = 25
# scene5 lasts 0.3 s: shorter than --min-seconds, so it merges with the shot after it
SHOTS = [("testsrc2", 2.0), ("still3", 1.6), ("mandelbrot", 3.2), ("scene5", 0.3), ("life", 1.4), ("still8", 1.2),
         ("testsrc2", 2.4)]
MOVING = ("testsrc2", "mandelbrot", "life")


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    d = tmp_path_factory.mktemp("shots")
    _, cuts = make_film(d / "in" / "film.mp4", SHOTS, width=160, height=120, fps=FPS)
    build_corpus(d / "corpus", "movies", [d / "in"], clip={"split": "shots", "max_seconds": 2.0})
    clips = check_corpus(d / "corpus").sort_values("start_s").reset_index(drop=True)
    return d, cuts, clips


def shot_of(t: float, cuts: list[int]) -> int:
    """Index in SHOTS of the shot playing at time t."""
    return sum(t * FPS >= c for c in cuts)


def test_clips_follow_the_cuts_of_the_film(film):
    _, cuts, clips = film
    expected = [c for c in cuts if c != cuts[3]]  # the cut out of the 0.3 s shot is merged away
    found = sorted({round(s * FPS + 0.5) for s in clips.shot_start_s})[1:]
    assert len(found) == len(expected) and all(abs(f - c) <= 1 for f, c in zip(found, expected, strict=True))
    # every clip lies inside its shot, no longer than --max-seconds, no shorter than --min-seconds
    assert (clips.start_s >= clips.shot_start_s - 1e-6).all() and (clips.end_s <= clips.shot_end_s + 1e-6).all()
    assert (clips.end_s - clips.start_s <= 2.0 + 1e-6).all() and (clips.end_s - clips.start_s >= 0.5).all()
    # the 3.2 s mandelbrot shot is cut into two equal pieces of the same shot
    long = clips[clips.shot_start_s.round(2) == round((cuts[1] - 0.5) / FPS, 2)]
    assert len(long) == 2 and abs(long.duration_s.iloc[0] - long.duration_s.iloc[1]) <= 1 / FPS
    # the clips tile the film: each starts where the one before ended
    assert clips.start_s.iloc[0] == 0 and (clips.start_s.iloc[1:].to_numpy() == clips.end_s.iloc[:-1].to_numpy()).all()


def test_still_shots_score_below_moving_ones(film):
    _, cuts, clips = film
    kind = [SHOTS[shot_of((a + b) / 2, cuts)][0] for a, b in zip(clips.start_s, clips.end_s, strict=True)]
    still = clips.motion[[k.startswith("still") for k in kind]]
    moving = clips.motion[[k in MOVING for k in kind]]
    assert len(still) == 2 and len(moving) >= 4
    assert still.max() < 0.5 < 2 < moving.min()


def test_min_motion_keeps_still_clips_out_of_a_mix(tmp_path, film):
    d, _, clips = film
    recipe = tmp_path / "r.yaml"
    recipe.write_text("min_motion: 1.0\nsources:\n  films: {quota: 100}\n")
    summary = mix(MixOptions(recipe=str(recipe), inputs={"films": str(d / "corpus")}, out=str(tmp_path / "mixed")),
                  progress=False)
    mixed = check_corpus(tmp_path / "mixed")
    assert len(mixed) == (clips.motion >= 1.0).sum() and (mixed.motion >= 1.0).all()
    videos = pd.read_parquet(tmp_path / "mixed" / "videos")
    still = (clips.motion < 1.0).sum()
    assert still == 2
    assert (videos.error_kind == "too_still").sum() == still == summary["mix"]["films"]["kept_out"]["too_still"]
    assert mixed.shot_start_s.notna().all()  # shot bounds travel with the clips


def test_shot_clips_merge_short_shots_and_cut_long_ones():
    # shots: [0,3) [3,3.2) [3.2,4) [4,9); min 0.5 s: the 0.2 s shot joins the one before
    assert shot_clips(0, 9, [3, 3.2, 4], 0.5, None) == [(0, 3.2, 0, 3.2), (3.2, 4, 3.2, 4), (4, 9, 4, 9)]
    # a short first shot takes the next one in; 5 s cut into pieces of at most 2 s
    pieces = shot_clips(0, 6, [0.2, 1], 0.5, 2.0)
    assert [p for c in pieces for p in c] == pytest.approx([0, 1, 0, 1, 1, 8 / 3, 1, 6, 8 / 3, 13 / 3, 1, 6,
                                                            13 / 3, 6, 1, 6])
    assert shot_clips(2, 5, [1, 7], 0.5, None) == [(2, 5, 2, 5)]  # cuts outside the range are ignored


def test_split_shots_is_refused_where_it_does_not_fit(tmp_path, film):
    d, _, _ = film
    with pytest.raises(InputError, match="not kinetics"):
        build_corpus(tmp_path / "k", "kinetics", [d / "in" / "film.mp4"], clip={"split": "shots"})
    with pytest.raises(InputError, match="drop --clip-seconds"):
        build_corpus(tmp_path / "m", "movies", [d / "in"], clip={"split": "shots", "clip_seconds": 2.0})
    with pytest.raises(InputError, match="twice --min-seconds"):
        build_corpus(tmp_path / "m", "movies", [d / "in"], clip={"split": "shots", "max_seconds": 0.6})


def test_min_motion_refuses_corpora_without_motion_scores(tmp_path, film):
    d, _, clips = film
    old = tmp_path / "old"
    old_schema = pa.schema([f for f in read_table(d / "corpus", "clips").schema
                            if f.name not in ("motion", "shot_start_s", "shot_end_s")])
    for table in ("videos", "shards", "clips"):
        (old / table).mkdir(parents=True)
    table = read_table(d / "corpus", "clips").select(old_schema.names)
    pq.write_table(table.cast(with_version(old_schema, "clips")), old / "clips" / "part-0.parquet")
    (old / "build.json").write_text('{"state": "complete"}')
    assert read_table(old, "clips").column("motion").null_count == len(clips)  # read as before: nulls
    recipe = tmp_path / "r.yaml"
    recipe.write_text("sources:\n  films: {quota: 5, min_motion: 1.0}\n")
    with pytest.raises(InputError, match="without a motion score"):
        mix(MixOptions(recipe=str(recipe), inputs={"films": str(old)}, out=str(tmp_path / "mixed")), progress=False)
