"""UMT's image teacher: weights in timm and in OpenCLIP/OpenAI layout load into the same
architecture (checked against open_clip's own forward), outputs are normalized per layer, and the
class-token attention is the one the teacher's last block computes."""

import pytest
import torch

from trainer import checkpoint
from trainer.models.teacher import TeacherError, build_teacher


def frames(b=2, t=3, size=32):
    torch.manual_seed(0)
    return torch.rand(b, 3, t, size, size)


def test_outputs_are_per_frame_normalized_features_and_class_attention():
    teacher = build_teacher("clip_test", layers=2, img_size=32)
    out = teacher(frames())
    assert out.features.shape == (2, 2, 3, 4, 32)  # K, B, T, 2x2 tokens, projection width
    assert torch.allclose(out.features.norm(dim=-1), torch.ones(2, 2, 3, 4), atol=1e-5)
    assert out.attention.shape == (2, 3, 4) and (out.attention > 0).all() and (out.attention.sum(-1) < 1).all()
    assert not any(p.requires_grad for p in teacher.parameters())
    # the attention is what timm's last block computes (its unfused path keeps the probabilities)
    attn = teacher.vit.blocks[-1].attn
    attn.fused_attn = False
    seen = []
    attn.attn_drop.register_forward_hook(lambda _m, inputs, _o: seen.append(inputs[0]))
    x = frames()
    again = teacher(x)
    probs = seen[-1].mean(dim=1)[:, 0, 1:]  # (B·T, N): class-token row over the patches, mean over heads
    assert torch.allclose(again.attention.reshape(-1, 4), probs, atol=1e-5)


def test_a_timm_layout_file_loads_and_gives_the_same_outputs(tmp_path):
    teacher = build_teacher("clip_test", layers=2, img_size=32)
    torch.save(teacher.vit.state_dict(), tmp_path / "timm.pt")
    loaded = build_teacher("clip_test", layers=2, img_size=32, state=checkpoint.load_file(tmp_path / "timm.pt"))
    a, b = teacher(frames()), loaded(frames())
    assert torch.equal(a.features, b.features) and torch.equal(a.attention, b.attention)
    # the same weights at another input size: timm resamples the position table
    larger = build_teacher("clip_test", 2, 64, checkpoint.load_file(tmp_path / "timm.pt"))
    assert larger(frames(size=64)).features.shape[3] == 16  # 4x4 tokens


def test_an_openclip_openai_layout_file_loads_and_matches_open_clip(tmp_path):
    open_clip = pytest.importorskip("open_clip", reason="open-clip-torch (a dev extra) writes the OpenAI-layout file")
    from open_clip.transformer import VisionTransformer

    torch.manual_seed(1)
    tower = VisionTransformer(image_size=32, patch_size=16, width=64, layers=3, heads=2, mlp_ratio=4.0,
                              output_dim=32).eval()
    torch.save({f"visual.{k}": v for k, v in tower.state_dict().items()}, tmp_path / "openai.pt")  # CLIP's names
    teacher = build_teacher("clip_test", layers=1, img_size=32, state=checkpoint.load_file(tmp_path / "openai.pt"))
    image = frames(b=1, t=2)[0].transpose(0, 1)  # two frames as images
    with torch.no_grad():
        pooled = teacher.vit(image)  # timm: head(norm(tokens)[:, 0]), the CLIP image embedding
        assert torch.allclose(pooled, tower(image), atol=1e-5), open_clip.__version__
    with pytest.raises(TeacherError, match="do not fit vit_large_patch14_clip_224"):
        build_teacher("vit_large_patch14_clip_224", 1, 28, checkpoint.load_file(tmp_path / "openai.pt"))
