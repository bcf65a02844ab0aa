"""A tiny unlabeled corpus for the training fault tests."""

from __future__ import annotations

import pytest

from corpus.synthetic import make_video
from tests.helpers import build_corpus


@pytest.fixture(scope="session")
def fault_corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("faults")
    for k in range(6):
        make_video(d / "src" / f"v{k}.mp4", pattern=f"scene{60 + k}", seconds=3, width=160, height=96, fps=10)
    build_corpus(d / "c", "movies", [d / "src"], clip={"clip_seconds": 1.5, "short_side": 64}, shard_bytes=45_000)
    return d / "c"
