"""Fixtures of the trainer's tests."""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def vl_data(tmp_path_factory) -> dict[str, Path]:
    """Captioned video and image corpora, a tiny BERT folder, and a stage-1 UMT student of vit_test
    (4 segment frames of 32 px, tubelet 1) trained for a few steps on the videos."""
    pytest.importorskip("transformers", reason="the hf extra is not installed (pip install -e '.[hf]'; make test "
                                               "does): the tests write their BERT folder with transformers")
    from tests.trainer.vl_fixtures import bert_folder, captioned_images, captioned_videos, words
    from trainer.config import PretrainConfig
    from trainer.settings import configure
    from trainer.stages.pretrain import pretrain

    root = tmp_path_factory.mktemp("vl")
    videos, images, bert = captioned_videos(root), captioned_images(root), bert_folder(root, words())
    cfg = configure(PretrainConfig, {
        "shards": [str(videos)], "out": str(root / "student"), "model": "vit_test", "objective": "umt",
        "teacher": "clip_test", "teacher_weights": "random", "align_layers": 2, "steps": 2, "batch_size": 2,
        "data": {"frames": 4, "img_size": 32, "workers": 1, "shuffle_buffer": 4}})
    pretrain(cfg, progress=False)
    return {"videos": videos, "images": images, "bert": bert, "student": root / "student"}
