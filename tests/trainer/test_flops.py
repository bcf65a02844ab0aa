"""The FLOPs `vmae bench` divides by the step time for MFU: a hand count on a tiny configuration,
and torch's own FlopCounterMode on a real model's forward and backward with real dual masks."""

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from trainer.data.config import Geometry
from trainer.data.masking import dual_mask
from trainer.measure.flops import (
    StepFlops,
    StepShape,
    TeacherShape,
    block_flops,
    embed_flops,
    encoder_flops,
    teacher_flops,
    visible_tokens,
)
from trainer.models.families import FAMILIES, classifier_flops, trunk_flops
from trainer.models.registry import create_model
from trainer.models.sizes import SIZES, ViTConfig
from trainer.objectives.options import PRETRAIN, SUPERVISED, VIDEO_LANGUAGE, MAEOptions, UMTOptions, VLOptions

TINY = ViTConfig(patch=4, tubelet=2, frames=4, img_size=8, dim=8, depth=1, heads=2, mlp_ratio=2.0, decoder_dim=4,
                 decoder_depth=1, decoder_heads=1)


def mae_step(vit: ViTConfig, mask_ratio: float, decoder_ratio: float) -> StepFlops:
    """A stage-1 mae sample as the pretrain stage counts it: the trunk on the visible tokens, and
    what mae's options add."""
    shape = StepShape(vit, visible_tokens(vit, mask_ratio), vit.tokens)
    return StepFlops(trunk_flops(shape)) + MAEOptions(decoder_mask=decoder_ratio).flops(shape)


def test_every_objective_and_family_states_its_flops():
    shape = StepShape(TINY, 4, 8, "semantic", TeacherShape(8, 1, 2.0, 4, 8, 8), 4, classes=3)
    for registry in (PRETRAIN, SUPERVISED):
        for options in registry.values():
            assert isinstance(options().flops(shape), StepFlops), options.name
    assert all(isinstance(f.flops(shape), float) for f in FAMILIES.values())


def test_a_tiny_configuration_counted_by_hand():
    # 2 slices x 2x2 patches = 8 tokens of 3*2*4*4 = 96 pixels; mask 0.5 hides int(0.5*4) = 2 per
    # slice (4 visible); decoder ratio 0.5 keeps 4 positions: 4 + 4 = 8 decoder tokens
    embed = 2 * 8 * 96 * 8
    encoder_block = 2 * (4 * 8 * 8 * (4 + 2 * 2) + 2 * 4 * 4 * 8)  # projections + attention on 4 tokens
    to_decoder = 2 * 4 * 8 * 4
    decoder_block = 2 * (8 * 4 * 4 * (4 + 2 * 2) + 2 * 8 * 8 * 4)
    head = 2 * 4 * 4 * 96
    step = mae_step(TINY, mask_ratio=0.5, decoder_ratio=0.5)
    assert step.trained_forward == embed + encoder_block + to_decoder + decoder_block + head == 23296
    assert step.per_sample == 3 * 23296 and step.frozen_forward == 0
    # decoder ratio 0: the decoder's mask tokens sit at every hidden position (4)
    assert mae_step(TINY, 0.5, 0.0).trained_forward == step.trained_forward  # 4 hidden = 4 kept here
    assert classifier_flops(StepShape(TINY, 8, 8, classes=10)) == embed + block_flops(8, 8, 2.0) + 2 * 8 * 10


def _attention_counted():
    """CPU attention runs as one fused op that FlopCounterMode has no formula for: give it torch's
    own formulas for the flash kernels (the backward recomputes the scores: 2.5 x the forward)."""
    aten = torch.ops.aten
    return {aten._scaled_dot_product_flash_attention_for_cpu:
            lambda q, k, v, *_, out_shape=None, **__: sdpa_flop_count(q, k, v),
            aten._scaled_dot_product_flash_attention_for_cpu_backward:
            lambda g, q, k, v, *_, out_shape=None, **__: sdpa_backward_flop_count(g, q, k, v)}


def test_the_count_is_what_torch_measures_on_a_real_model():
    cfg = SIZES["vit_test"]  # 16 frames at 224: 1,568 tokens, as vit_base sees them
    torch.manual_seed(0)
    model = create_model("vit_test")
    grid = Geometry(frames=cfg.frames, img_size=cfg.img_size, patch=cfg.patch, tubelet=cfg.tubelet)
    mask = dual_mask(grid, 0.9, 0.5, np.random.default_rng(0))
    hidden, not_decoded = torch.from_numpy(mask.encoder)[None], torch.from_numpy(mask.decoder)[None]
    video = torch.rand(1, 3, cfg.frames, cfg.img_size, cfg.img_size)
    with FlopCounterMode(display=False, custom_mapping=_attention_counted()) as forward:
        model(video, hidden, not_decoded)
    ours = mae_step(cfg, 0.9, 0.5)
    assert forward.get_total_flops() == ours.trained_forward
    with FlopCounterMode(display=False, custom_mapping=_attention_counted()) as step:
        model(video, hidden, not_decoded).float().pow(2).mean().backward()
    # MFU's convention counts backward as 2 x forward; torch counts what runs: no gradient for the
    # input video (the embedding's weight gradient only) and the flash backward's recomputed scores
    visible = int((~mask.encoder).sum())
    decoded = visible + int((~mask.decoder).sum())
    attention = (cfg.depth * 4 * visible**2 * cfg.dim + cfg.decoder_depth * 4 * decoded**2 * cfg.decoder_dim)
    assert step.get_total_flops() == ours.per_sample - embed_flops(cfg) + attention / 2


def test_the_teachers_forward_is_what_torch_measures():
    from trainer.models.teacher import build_teacher

    teacher = build_teacher("clip_test", layers=2, img_size=32)  # timm's CLIP ViT-B/16 layout, tiny
    vit = teacher.vit
    shape = TeacherShape(dim=vit.embed_dim, depth=len(vit.blocks), mlp_ratio=vit.blocks[0].mlp.fc1.out_features
                         / vit.embed_dim, patch=vit.patch_embed.patch_size[0], img_size=32, out_dim=teacher.out_dim)
    pixels = torch.rand(1, 3, 4, 32, 32)
    with FlopCounterMode(display=False, custom_mapping=_attention_counted()) as counted:
        teacher(pixels)
    assert counted.get_total_flops() == teacher_flops(shape, frames=4, layers=2)
    cfg = ViTConfig(frames=4, img_size=32, dim=64, depth=2, heads=2, decoder_depth=0)
    visible = (4 - int(4 * 0.75)) * 2  # one of 4 tokens kept per slice, 2 slices
    student = StepShape(cfg, visible, cfg.tokens, "semantic", shape, teacher_frames=4)
    step = StepFlops(trunk_flops(student)) + UMTOptions(align_layers=2).flops(student)
    assert step.frozen_forward == teacher_flops(shape, 4, 2)
    assert step.trained_forward == encoder_flops(cfg, visible) + 2 * 2 * visible * 64 * shape.out_dim
    assert step.per_sample == 3 * step.trained_forward + step.frozen_forward  # the teacher runs forward only


def test_the_video_language_step_is_what_torch_measures():
    """UMT's second stage, every loss on: the video and text towers, the fusion layers on each pair
    and its two hard negatives, BERT's MLM head, the alignment heads and the teacher (a semantic
    mask), for a video batch and an image batch."""
    from trainer.models.teacher import build_teacher
    from trainer.models.text import TextConfig
    from trainer.models.video_language import VideoLanguageModel
    from trainer.objectives.umt import UMT
    from trainer.objectives.vl import VideoLanguage

    cfg = ViTConfig(frames=4, img_size=32, dim=64, depth=2, heads=2, decoder_depth=0)
    text = TextConfig(vocab_size=40, dim=32, depth=3, heads=2, mlp_dim=64, max_positions=16, fusion_layers=2,
                      video_dim=64, dropout=0.0, cls_id=2, sep_id=3, mask_id=4)
    torch.manual_seed(0)
    model = VideoLanguageModel(cfg, text, embed_dim=16)
    teacher = build_teacher("clip_test", layers=2, img_size=32)
    geometry = Geometry(frames=4, img_size=32, patch=16, tubelet=2)
    uma = UMT(teacher, 64, geometry, "semantic", 0.75, teacher_bf16=False)
    # every caption token but [CLS] is masked for MLM (no padding): the head runs on L - 1 tokens
    objective = VideoLanguage(uma, {"uma": 1.0, "vtc": 1.0, "vtm": 1.0, "mlm": 1.0}, 0.75, 0.5, 1 - 1e-9)
    batch_size, length = 3, 8
    ids = torch.randint(5, 40, (batch_size, length))
    ids[:, 0] = text.cls_id
    for frames, ratio in ((4, 0.75), (1, 0.5)):  # a video, then an image (repeated to one tubelet)
        batch = {"video": torch.randint(0, 256, (batch_size, 3, frames, 32, 32), dtype=torch.uint8), "ids": ids,
                 "keep": torch.ones(batch_size, length, dtype=torch.bool), "caption_id": torch.arange(batch_size)}
        with FlopCounterMode(display=False, custom_mapping=_attention_counted()) as counted:
            objective(model, batch)
        slices = 1 if frames == 1 else 2
        shape = StepShape(cfg, visible_tokens(cfg, ratio, slices), 4 * slices, "semantic", teacher.shape(),
                          teacher_frames=2 if frames == 1 else 4, text=text, embed_dim=16, batch=batch_size)
        options = VLOptions(embed_dim=16, max_tokens=length, mlm_prob=1 - 1e-9)
        ours = StepFlops(trunk_flops(shape)) + options.flops(shape) + UMTOptions(align_layers=2).flops(shape)
        assert counted.get_total_flops() / batch_size == pytest.approx(ours.trained_forward + ours.frozen_forward,
                                                                       rel=1e-8)
    assert set(VIDEO_LANGUAGE) == {"vl", "umt"}
