"""The config tree: option names are field names, presets by size and objective, checks."""

import pytest

from trainer.config import FinetuneConfig, PretrainConfig, nest
from trainer.settings import configure


def test_options_map_onto_fields_and_the_data_section():
    doc = nest(PretrainConfig, {"frames": 8, "tubelet": 1, "objective": "mae", "steps": 3, "lr": None})
    assert doc == {"data": {"frames": 8, "tubelet": 1}, "objective": "mae", "steps": 3}
    with pytest.raises(ValueError, match="'teacher_weights' is not a setting of FinetuneConfig"):
        nest(FinetuneConfig, {"teacher_weights": "x"})


def test_umt_presets_follow_the_official_recipe_and_the_command_line_wins():
    cfg = configure(PretrainConfig, {"objective": "umt", "teacher_weights": "random", "steps": 1})
    assert (cfg.data.frames, cfg.data.tubelet, cfg.data.sampling) == (8, 1, "segments")
    assert (cfg.mask_type, cfg.encoder_mask, cfg.drop_path, cfg.betas) == ("semantic", 0.8, 0.1, (0.9, 0.95))
    large = configure(PretrainConfig, {"objective": "umt", "teacher_weights": "random", "steps": 1,
                                          "model": "vit_large", "frames": 16})
    assert large.drop_path == 0.2 and large.umt.teacher == "vit_large_patch14_clip_224" and large.data.frames == 16
    both = configure(PretrainConfig, {"objective": "mae+umt", "teacher_weights": "random", "steps": 1,
                                         "objective_weights": ["mae=0.5"]})
    assert both.decoder and both.objective_weights == {"mae": 0.5}
    mae = configure(PretrainConfig, {"steps": 1})
    assert (mae.data.frames, mae.data.tubelet, mae.mask_type, mae.encoder_mask) == (16, 2, "tube", 0.9)


def test_bad_combinations_are_refused_with_what_to_do():
    with pytest.raises(ValueError, match="--teacher-weights FILE"):
        configure(PretrainConfig, {"objective": "umt", "steps": 1})
    with pytest.raises(ValueError, match="needs --objective umt"):
        configure(PretrainConfig, {"mask_type": "semantic", "steps": 1})
    with pytest.raises(ValueError, match="give one or more of mae, umt"):
        configure(PretrainConfig, {"objective": "mae+mae", "steps": 1})
    with pytest.raises(ValueError, match="multiple of tubelet"):
        configure(PretrainConfig, {"steps": 1, "frames": 5})
    with pytest.raises(ValueError, match=r"'colour' is not a setting of PretrainConfig"):
        configure(PretrainConfig, {"steps": 1}, {"colour": "red"})
