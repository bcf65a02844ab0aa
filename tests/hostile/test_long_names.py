"""A film or id with a long name (over the 100 bytes of a plain tar member name once keyed) is
built like any other: the key is shortened with a hash, the full name stays in the row."""

import shutil

import pandas as pd

from manifests.sample import MAX_KEY_BYTES
from tests.helpers import build_corpus, check_corpus

FILM = "The.Lord.of.the.Rings.The.Fellowship.of.the.Ring.2001.EXTENDED"


def test_a_film_with_a_long_name_builds_and_its_name_is_kept(tmp_path, videos):
    films = tmp_path / "films"
    films.mkdir()
    for part in ("", ".Part.2"):
        shutil.copy(videos / "long.mp4", films / f"{FILM}{part}.mp4")
    build_corpus(tmp_path / "c", "movies", [films], clip={"clip_seconds": 4})
    clips = check_corpus(tmp_path / "c")  # every tar member decodes and matches its row
    assert len(clips) == 6 and clips.clip_key.nunique() == 6
    assert all(len(k.encode()) <= MAX_KEY_BYTES for k in clips.clip_key)
    assert set(clips.video_id) == {FILM, f"{FILM}.Part.2"}
    assert set(pd.read_parquet(tmp_path / "c" / "videos").status) == {"ok"}
