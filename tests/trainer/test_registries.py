"""Every registered objective and model family at tiny size: each objective trains to finite losses
and resumes exactly; each family builds, saves, loads strictly, starts from the families it names
(and from no other), and exports where it applies; the train commands offer every objective's
options, and only vmae's own errors lose their traceback."""

import dataclasses
import math

import pytest
import torch
from typer.main import get_command
from typer.testing import CliRunner

from cli.main import app
from tests.trainer.helpers import losses
from trainer import checkpoint
from trainer.checkpoint.export import export_safetensors, export_transformers
from trainer.config import FinetuneConfig, PretrainConfig, VLConfig, sections
from trainer.errors import USER_ERRORS, CheckpointError
from trainer.models.families import FAMILIES
from trainer.models.sizes import SIZES, ViTConfig
from trainer.models.text import TextConfig
from trainer.objectives.options import PRETRAIN, SUPERVISED, VIDEO_LANGUAGE, ObjectiveOptions
from trainer.settings import configure
from trainer.stages.finetune import finetune
from trainer.stages.pretrain import pretrain
from trainer.stages.vlpretrain import vlpretrain

DATA = {"frames": 4, "stride": 2, "img_size": 32, "workers": 1, "shuffle_buffer": 4}
# what an objective needs besides its defaults to run at tiny size on a CPU
NEEDS = {"umt": {"teacher": "clip_test", "teacher_weights": "random", "align_layers": 2}}
STAGE1 = [*PRETRAIN, "+".join(PRETRAIN)]  # each part, and their sum


def _settings(name: str, corpus, out, **kw) -> dict:
    extra = {k: v for part in name.split("+") for k, v in NEEDS.get(part, {}).items()}
    return {"shards": [str(corpus)], "out": str(out), "model": "vit_test", "batch_size": 2, "lr": 2e-3, "steps": 6,
            "ckpt_every": 3, "warmup_fraction": 0.2, "data": dict(DATA), **extra, **kw}


def _train(objective: str, motion_corpora, out, **kw) -> dict:
    if objective in VIDEO_LANGUAGE:
        from tests.trainer.helpers import vl_settings as settings

        return vlpretrain(configure(VLConfig, settings(motion_corpora, out, steps=6, **kw)), progress=False)
    if objective in SUPERVISED:
        return finetune(configure(FinetuneConfig, _settings(objective, motion_corpora["four"], out, **kw)),
                        progress=False)
    settings = _settings(objective, motion_corpora["six"], out, objective=objective, **kw)
    return pretrain(configure(PretrainConfig, settings), progress=False)


@pytest.mark.parametrize("objective", [*STAGE1, *SUPERVISED, "vl"])
def test_every_objective_trains_to_finite_losses_and_resumes_exactly(tmp_path, request, objective):
    # the video-language objective trains on captioned corpora from a stage-1 student
    motion_corpora = request.getfixturevalue("vl_data" if objective in VIDEO_LANGUAGE else "motion_corpora")
    _train(objective, motion_corpora, tmp_path / "full")
    _train(objective, motion_corpora, tmp_path / "split", stop_after=3)
    assert max(losses(tmp_path / "split")) == 3
    _train(objective, motion_corpora, tmp_path / "split")
    full, split = losses(tmp_path / "full"), losses(tmp_path / "split")
    assert sorted(full) == sorted(split) == list(range(1, 7)) and all(math.isfinite(v) for v in full.values())
    for step in range(1, 7):  # both seeded alike; the split one restored at step 3
        assert split[step] == pytest.approx(full[step], rel=1e-5, abs=1e-6), (objective, step)


TINY = {**dataclasses.asdict(SIZES["vit_test"]), "frames": 4, "img_size": 32}
_TEXT = TextConfig(vocab_size=12, dim=32, depth=2, heads=2, mlp_dim=64, max_positions=16, fusion_layers=1,
                   video_dim=64, pad_id=0, cls_id=1, sep_id=2, mask_id=3)
# what a family builds with besides a size and classes, at tiny size
_VOCAB = ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]"] + [f"w{i}" for i in range(7)]
FAMILY_ARGS = {"vl": {"text_args": dataclasses.asdict(_TEXT), "embed_dim": 16, "vocab": _VOCAB}}


def _model(spec, seed: int = 0):
    torch.manual_seed(seed)
    return spec.build(ViTConfig(**TINY), 3, family_args=FAMILY_ARGS.get(spec.name))


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("spec", FAMILIES.values(), ids=list(FAMILIES))
def test_every_family_builds_saves_loads_and_exports(tmp_path, spec):
    model = _model(spec)
    saved = checkpoint.save(tmp_path / "run", 1, checkpoint.model_record(model, "vit_test"), keep=1)
    back = checkpoint.read(saved)
    assert back.family is spec and back.model_name == "vit_test" and back.classes == spec.classes(model.state_dict())
    again = _model(spec, seed=1)
    checkpoint.load_weights(again, back, list(range(back.classes)) if spec.head else None)
    assert _same(again.state_dict(), model.state_dict())
    exported = checkpoint.read(export_safetensors(back, tmp_path / "model"))
    assert exported.family is spec and _same(exported.state, back.state)
    if spec.hf_architectures:
        folder = checkpoint.read(export_transformers(back, tmp_path / "hf"))
        assert folder.family is spec and all(torch.allclose(folder.state[k], v) for k, v in back.state.items())
    lacking = {k: v for k, v in back.state.items() if not k.startswith(f"{spec.trunk}blocks.1.")}
    with pytest.raises(CheckpointError, match="does not fit the model: missing"):
        # a trunk block the file lacks would otherwise stay random, silently
        checkpoint.load_weights(_model(spec), dataclasses.replace(back, state=lacking))


@pytest.mark.parametrize("target, source", [(t, s) for t in FAMILIES.values() for s in FAMILIES.values()],
                         ids=[f"{t}-from-{s}" for t in FAMILIES for s in FAMILIES])
def test_init_takes_the_trunk_of_the_families_a_family_starts_from(tmp_path, target, source):
    donor = _model(source)
    back = checkpoint.read(checkpoint.save(tmp_path, 1, checkpoint.model_record(donor, "vit_test"), keep=1))
    model = _model(target, seed=1)
    if source is not target and source.name not in target.starts_from:
        with pytest.raises(CheckpointError, match=f"a {target.name} model starts from"):
            checkpoint.load_weights(model, back)
        return
    # parts neither in the trunk nor free to start new come from their own files (a text tower from BERT): a
    # run that did not load them is refused instead of training them from random weights
    elsewhere = {k for k in model.state_dict() if target.part(k) not in ("encoder", *target.fresh)}
    if elsewhere and source is not target:
        with pytest.raises(CheckpointError, match="does not fit the model: missing"):
            checkpoint.load_weights(model, back)
    rows = list(range(back.classes)) if source is target and target.head else None  # the same family: all of it
    said = checkpoint.load_weights(model, back, rows, loaded=elsewhere if source is not target else ())
    trunk = target.trunk_of(model.state_dict())
    expected = target.trunk_of(target.with_trunk(source.trunk_of(donor.state_dict())))
    assert all(torch.equal(trunk[k], v) for k, v in expected.items()) and expected
    taken = target.with_trunk(source.trunk_of(donor.state_dict()))
    new = {target.part(k) for k in model.state_dict() if k not in taken and k not in elsewhere and source is not target}
    said_new = set(said.split("; new ")[1].split(", ")) if "; new " in said else set()
    assert said_new == new and new <= set(target.fresh), said


def test_the_train_commands_offer_every_objectives_options():
    commands = get_command(app).commands["train"].commands
    for name, registry in (("pretrain", PRETRAIN), ("finetune", SUPERVISED), ("postpretrain", SUPERVISED),
                           ("vlpretrain", VIDEO_LANGUAGE)):
        offered = {p.name for p in commands[name].params}
        for options in registry.values():
            assert {f.name for f in dataclasses.fields(options)} <= offered, (name, options.name)
    for cls in (PretrainConfig, FinetuneConfig, VLConfig):  # a flat name finds one section only
        names = [f.name for kind in sections(cls).values() for f in dataclasses.fields(kind)]
        assert len(names) == len(set(names)) and not set(names) & {f.name for f in dataclasses.fields(cls)}


def test_only_vmaes_own_errors_lose_their_traceback(tmp_path, monkeypatch):
    assert ValueError not in USER_ERRORS
    args = ["train", "pretrain", "--out", str(tmp_path / "r"), "--steps", "1", "--objective", "mae+nope"]
    quiet = CliRunner().invoke(app, args)
    assert quiet.exit_code == 2 and "give one or more of mae, umt" in quiet.output and "Traceback" not in quiet.output
    monkeypatch.setenv("VMAE_DEBUG", "1")
    loud = CliRunner().invoke(app, args)
    assert loud.exit_code == 2 and "Traceback" in loud.output


def test_every_stage_spec_names_its_config_sections_groups_and_runner():
    """A stage's accepted objectives are sections of its config (each with a FLOPs count), its
    command is made of known groups, and what runs it imports."""
    from cli.train_options import GROUPS
    from trainer.stages.specs import STAGES, stage_for

    for spec in STAGES.values():
        assert set(spec.objectives) <= set(sections(spec.config)), spec.name
        assert all(g in GROUPS or g == "objectives" for g in spec.groups), spec.name
        assert callable(spec.runner())
        for options in spec.objectives.values():  # each states what it adds to a step's FLOPs
            assert options.flops is not ObjectiveOptions.flops, options.name
    assert [stage_for(o).name for o in ("mae", "umt", "mae+umt", "supervised", "vl")] == \
        ["pretrain", "pretrain", "pretrain", "postpretrain", "vlpretrain"]
    commands = get_command(app).commands["train"].commands
    assert set(STAGES) <= set(commands)
