"""Models that travel: vmae's models exported for transformers give the same outputs there, models
that transformers saved give the same outputs in vmae, the names of every registered size map one
to one, and a safetensors export loads back strictly."""

import json
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

pytest.importorskip("transformers", reason="the hf extra is not installed (pip install -e '.[hf]'; make test does)")
import transformers  # noqa: E402
from transformers import (  # noqa: E402
    AutoImageProcessor,
    AutoVideoProcessor,
    VideoMAEConfig,
    VideoMAEForPreTraining,
    VideoMAEForVideoClassification,
    VideoMAEModel,
)

from trainer import checkpoint
from trainer.checkpoint import hf
from trainer.checkpoint.export import export_safetensors, export_transformers
from trainer.data.augment import to_model_input
from trainer.data.views import crop_views
from trainer.errors import CheckpointError
from trainer.models.families import FAMILIES
from trainer.models.registry import build, create_classifier, create_model
from trainer.models.sizes import SIZES, ViTConfig

LABELS = ["moving up", "moving down", "standing still"]
TINY = {"frames": 4, "img_size": 32}
UMT_PATCH14 = {"frames": 4, "img_size": 28, "patch": 14, "tubelet": 1}


def perturbed(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Every weight random: a swapped name would hide behind unit norms and zero biases."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.05)
    return model.eval()


def saved(tmp_path, model, **extra):
    path = tmp_path / "ckpt.pt"
    torch.save(checkpoint.model_record(model, "vit_test") | extra, path)
    return checkpoint.read(path)


def clip(cfg, batch=2, seed=1) -> torch.Tensor:
    return torch.randn(batch, 3, cfg.frames, cfg.img_size, cfg.img_size, generator=torch.Generator().manual_seed(seed))


def frames_first(video: torch.Tensor) -> torch.Tensor:
    return video.transpose(1, 2)  # transformers takes (B, T, C, H, W)


def from_pretrained(cls, folder):
    model, info = cls.from_pretrained(folder, output_loading_info=True)
    assert not (info["missing_keys"] or info["unexpected_keys"] or info["mismatched_keys"]), info
    return model.eval()


def hidden_mask(tokens: int, batch=2, ratio=0.75, seed=2) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    rows = [torch.randperm(tokens, generator=gen)[: int(tokens * ratio)] for _ in range(batch)]
    mask = torch.zeros(batch, tokens, dtype=torch.bool)
    for b, row in enumerate(rows):
        mask[b, row] = True
    return mask


@pytest.mark.parametrize("geometry", [TINY, UMT_PATCH14], ids=["patch16-tubelet2", "patch14-tubelet1"])
def test_a_classifier_loads_in_transformers_with_its_labels_and_gives_the_same_logits(tmp_path, geometry):
    ours = perturbed(create_classifier("vit_test", len(LABELS), **geometry))
    ckpt = saved(tmp_path, ours, labels=LABELS, config={"data": {**geometry, "sampling": "segments"}})
    folder = export_transformers(ckpt, tmp_path / "hf")
    theirs = from_pretrained(VideoMAEForVideoClassification, folder)
    assert theirs.config.id2label == dict(enumerate(LABELS))
    x = clip(ours.cfg)
    with torch.no_grad():
        torch.testing.assert_close(theirs(pixel_values=frames_first(x)).logits, ours(x), rtol=1e-4, atol=1e-5)
    # and back: the same weights, labels and clip geometry
    back = checkpoint.read(folder)
    assert (back.kind, back.model_name, back.labels) == ("classifier", "vit_test", LABELS)
    assert back.geometry()["sampling"] == "segments" and back.geometry()["tubelet"] == geometry.get("tubelet", 2)
    rebuilt = checkpoint.classifier(back)
    for key, value in ours.state_dict().items():
        assert torch.equal(rebuilt.state_dict()[key], value), key


def test_the_processor_configs_prepare_clips_as_vmae_does(tmp_path):
    ours = create_classifier("vit_test", 2, **TINY)
    folder = export_transformers(saved(tmp_path, ours, config={"data": TINY}), tmp_path / "hf")
    t, y, x, c = np.meshgrid(np.arange(4), np.arange(48), np.arange(64), np.arange(3), indexing="ij")
    video = (127 + 100 * np.sin(x / 9 + y / 13 + t + c)).astype(np.uint8)  # (T, H, W, C), smooth
    expected, _ = to_model_input(crop_views(video[None], 32, 1))  # short side to 32, centre crop
    for processor in (AutoImageProcessor.from_pretrained(folder), AutoVideoProcessor.from_pretrained(folder)):
        got = processor(list(video) if "Image" in type(processor).__name__ else video, return_tensors="pt")
        got = frames_first(got["pixel_values"])  # back to (B, C, T, H, W)
        assert got.shape == expected.shape
        # the resized widths differ by a pixel (42 and 43: rounding), about 0.09 on average; measured
        # with transformers' default normalization 0.64, with a 40-pixel short side 0.32
        assert (got - expected).abs().mean() < 0.15, type(processor).__name__
    assert AutoVideoProcessor.from_pretrained(folder).num_frames == 4


@pytest.mark.parametrize("geometry", [TINY, {**UMT_PATCH14, "tubelet": 2}], ids=["patch16", "patch14"])
def test_a_pretraining_model_loads_in_transformers_with_its_decoder_and_rebuilds_the_same_pixels(tmp_path, geometry):
    ours = perturbed(create_model("vit_test", **geometry))
    folder = export_transformers(saved(tmp_path, ours), tmp_path / "hf")
    theirs = from_pretrained(VideoMAEForPreTraining, folder)
    x, hidden = clip(ours.cfg), hidden_mask(ours.cfg.tokens)
    with torch.no_grad():  # every hidden token decoded: transformers' decoder has no decoder mask
        got = theirs(pixel_values=frames_first(x), bool_masked_pos=hidden).logits
        torch.testing.assert_close(got, ours(x, hidden, not_decoded=~hidden), rtol=1e-4, atol=1e-5)
    back = create_model("vit_test", **geometry)
    checkpoint.load_weights(back, checkpoint.read(folder))
    for key, value in ours.state_dict().items():
        assert torch.equal(back.state_dict()[key], value), key


def test_a_umt_student_loads_in_transformers_as_the_encoder_alone(tmp_path):
    ours = perturbed(create_model("vit_test", decoder_depth=0, **{**UMT_PATCH14, "patch": 16, "img_size": 32}))
    folder = export_transformers(saved(tmp_path, ours), tmp_path / "hf")
    assert json.loads((folder / "config.json").read_text())["architectures"] == ["VideoMAEModel"]
    theirs = from_pretrained(VideoMAEModel, folder)
    x, hidden = clip(ours.cfg), hidden_mask(ours.cfg.tokens, ratio=0.8)
    with torch.no_grad():
        torch.testing.assert_close(theirs(pixel_values=frames_first(x)).last_hidden_state, ours.encoder(x),
                                   rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(theirs(pixel_values=frames_first(x), bool_masked_pos=hidden).last_hidden_state,
                                   ours.encoder(x, hidden), rtol=1e-4, atol=1e-5)
    back = checkpoint.read(folder)
    assert back.kind == "pretrain" and not back.has_decoder and back.geometry()["tubelet"] == 1
    with_decoder = create_model("vit_test", **{**UMT_PATCH14, "patch": 16, "img_size": 32})
    assert checkpoint.load_weights(with_decoder, back) == "encoder; new decoder"
    assert torch.equal(with_decoder.encoder.blocks[1].mlp.fc2.weight, ours.encoder.blocks[1].mlp.fc2.weight)


def test_layer_scale_is_folded_into_the_layers_it_scales(tmp_path):
    ours = perturbed(create_classifier("vit_test", 3, init_values=0.1, **TINY))
    theirs = from_pretrained(VideoMAEForVideoClassification, export_transformers(saved(tmp_path, ours), tmp_path / "h"))
    x = clip(ours.cfg)
    with torch.no_grad():
        torch.testing.assert_close(theirs(pixel_values=frames_first(x)).logits, ours(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", list(SIZES))
def test_every_registered_size_maps_name_for_name_and_shape_for_shape(name):
    def shapes(state):  # transformers 5 names the q/v biases in memory otherwise than in its files
        return {k.replace(".query.bias", ".q_bias").replace(".value.bias", ".v_bias"): tuple(v.shape)
                for k, v in state.items()}

    for tubelet in (2, 1):
        small = {"tubelet": tubelet, "frames": 2, "img_size": SIZES[name].patch * 2}
        with torch.device("meta"):  # no memory for the weights of a giant
            for spec in (f for f in FAMILIES.values() if f.hf_architectures):  # every family transformers has
                cls = getattr(transformers, spec.hf_architecture(has_decoder=True))
                ours = spec.build(ViTConfig(**{**SIZES[name].__dict__, **small}), 7)
                args = ours.cfg.__dict__
                theirs = cls(VideoMAEConfig(**hf.config_fields(args, spec, None, 7)))
                exported = hf.to_transformers(ours.state_dict(), spec)
                assert shapes(exported) == shapes(theirs.state_dict()), (spec.name, tubelet)
                back_kind, back = hf.from_transformers(theirs.state_dict())
                assert back_kind == spec.name and shapes(back) == shapes(ours.state_dict())
                config = json.loads(VideoMAEConfig(**hf.config_fields(args, spec, None, 7)).to_json_string())
                assert {k: v for k, v in hf.vit_args(config).items() if k != "mlp_ratio"} == {
                    k: args[k] for k in hf.vit_args(config) if k != "mlp_ratio"}
                assert int(args["dim"] * hf.vit_args(config)["mlp_ratio"]) == int(args["dim"] * args["mlp_ratio"])


def save_as(model, folder, form: str) -> None:
    """A transformers model as a user downloads one: safetensors, sharded safetensors, or an older
    pytorch_model.bin beside config.json."""
    if form == "bin":
        model.config.save_pretrained(folder)
        torch.save(model.state_dict(), folder / "pytorch_model.bin")
    else:
        model.save_pretrained(folder, max_shard_size="20KB" if form == "sharded" else "5GB")


def hf_config(**kw) -> VideoMAEConfig:
    return VideoMAEConfig(image_size=32, patch_size=16, num_frames=4, hidden_size=64, num_hidden_layers=2,
                          num_attention_heads=2, intermediate_size=256, decoder_hidden_size=32,
                          decoder_num_hidden_layers=1, decoder_num_attention_heads=2, decoder_intermediate_size=128,
                          layer_norm_eps=1e-6, **kw)


@pytest.mark.parametrize("form", ["safetensors", "sharded", "bin"])
def test_a_transformers_classifier_loads_in_vmae_with_the_same_logits(tmp_path, form):
    theirs = perturbed(VideoMAEForVideoClassification(hf_config(id2label=dict(enumerate(LABELS)))))
    save_as(theirs, tmp_path, form)
    if form == "sharded":
        assert (tmp_path / "model.safetensors.index.json").is_file()
    ckpt = checkpoint.read(tmp_path)
    assert (ckpt.kind, ckpt.labels, ckpt.model_name) == ("classifier", LABELS, "vit_test")
    ours = checkpoint.classifier(ckpt)
    x = clip(ours.cfg)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(pixel_values=frames_first(x)).logits, rtol=1e-4, atol=1e-5)


def test_a_transformers_pretraining_model_and_encoder_load_in_vmae_with_the_same_outputs(tmp_path):
    theirs = perturbed(VideoMAEForPreTraining(hf_config(use_mean_pooling=False)))
    theirs.save_pretrained(tmp_path / "pre")
    ours = create_model("vit_test", **TINY)
    assert "encoder and decoder" in checkpoint.load_weights(ours, checkpoint.read(tmp_path / "pre"))
    x, hidden = clip(ours.cfg), hidden_mask(ours.cfg.tokens)
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x, hidden, ~hidden),
                                   theirs(pixel_values=frames_first(x), bool_masked_pos=hidden).logits,
                                   rtol=1e-4, atol=1e-5)
    # the bare encoder, without q/v biases: zero biases are the same function
    encoder = perturbed(VideoMAEModel(hf_config(use_mean_pooling=False, qv_bias=False)))
    encoder.save_pretrained(tmp_path / "enc")
    student = create_model("vit_test", decoder_depth=0, **TINY)
    checkpoint.load_weights(student, checkpoint.read(tmp_path / "enc" / "model.safetensors"))
    with torch.no_grad():
        torch.testing.assert_close(student.eval().encoder(x), encoder(pixel_values=frames_first(x)).last_hidden_state,
                                   rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["pretrain", "classifier"])
def test_a_safetensors_export_loads_back_strictly(tmp_path, kind):
    ours = perturbed(build(kind, {**SIZES["vit_test"].__dict__, **TINY}, num_classes=3))
    extra = {"labels": LABELS} if kind == "classifier" else {}
    path = export_safetensors(saved(tmp_path, ours, config={"data": {**TINY, "stride": 3}}, **extra), tmp_path / "w")
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["kind"] == kind and card["model_args"] == ours.cfg.__dict__ and card["data"]["stride"] == 3
    fresh = build(kind, card["model_args"], card["num_classes"])
    fresh.load_state_dict(load_file(path), strict=True)  # vmae's names, every weight, nothing else
    back = checkpoint.read(path)
    assert (back.kind, back.labels, back.model_args, back.geometry()["stride"]) == (kind, extra.get("labels"),
                                                                                    card["model_args"], 3)
    path.with_suffix(".json").unlink()  # the header alone still describes the model
    assert checkpoint.read(path).model_args == card["model_args"]
    for key, value in ours.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key


def test_what_cannot_travel_is_refused_with_a_reason(tmp_path, monkeypatch):
    cls_token = VideoMAEForVideoClassification(hf_config(use_mean_pooling=False))
    cls_token.save_pretrained(tmp_path / "cls")
    with pytest.raises(CheckpointError, match="first token"):
        checkpoint.read(tmp_path / "cls")
    (tmp_path / "vit").mkdir()
    (tmp_path / "vit" / "config.json").write_text(json.dumps({"model_type": "vit"}))
    (tmp_path / "vit" / "model.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="'vit' model"):
        checkpoint.read(tmp_path / "vit")
    ckpt = saved(tmp_path, create_classifier("vit_test", 2, **TINY))
    with pytest.raises(CheckpointError, match="classifier checkpoint; a pretrain model starts from pretrain"):
        checkpoint.load_weights(create_model("vit_test", **TINY), ckpt)
    monkeypatch.setitem(sys.modules, "transformers", None)  # as where the hf extra is not installed
    with pytest.raises(CheckpointError, match=r"pip install 'vmae\[hf\]'"):
        export_transformers(ckpt, tmp_path / "out")
    assert not (tmp_path / "out").exists()
