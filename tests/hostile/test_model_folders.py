"""Model folders downloaded from a hub are inputs: their index files, sharded plans, configs and
cards never make vmae read a file outside the folder, nor build a model larger than its weights."""

import json

import pytest
import torch
from safetensors.torch import save_file

from trainer import checkpoint
from trainer.checkpoint import hf
from trainer.errors import CheckpointError
from trainer.models.families import CLASSIFIER
from trainer.models.registry import create_classifier, create_model

TINY = {"frames": 4, "img_size": 32}
CONFIG = {"model_type": "videomae", "image_size": 32, "patch_size": 16, "num_frames": 4, "hidden_size": 64,
          "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 256, "decoder_hidden_size": 32,
          "decoder_num_hidden_layers": 1, "decoder_num_attention_heads": 2, "decoder_intermediate_size": 128,
          "id2label": {"0": "a", "1": "b"}}


def transformers_folder(folder, model=None, config=None):
    """A folder as transformers writes it for a classifier (written without the library)."""
    folder.mkdir(parents=True)
    model = model or create_classifier("vit_test", 2, **TINY)
    (folder / "config.json").write_text(json.dumps(config or CONFIG))
    save_file(hf.to_transformers(model.state_dict(), CLASSIFIER), folder / "model.safetensors")
    return folder


def with_index(folder, weight_map):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(CONFIG))
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return folder


@pytest.mark.parametrize("where", ["relative", "absolute"])
def test_an_index_that_points_outside_its_folder_is_refused(tmp_path, where):
    victim = transformers_folder(tmp_path / "someone_elses_model")
    names = list(hf.to_transformers(create_classifier("vit_test", 2, **TINY).state_dict(), CLASSIFIER))
    target = "../someone_elses_model/model.safetensors" if where == "relative" else \
        str(victim / "model.safetensors")
    crafted = with_index(tmp_path / "downloaded", dict.fromkeys(names, target))
    with pytest.raises(CheckpointError, match="which is not a file of"):
        checkpoint.read(crafted)


def test_an_index_that_is_not_an_index_gets_an_error_naming_it(tmp_path):
    folder = with_index(tmp_path / "m", {})
    index = folder / "model.safetensors.index.json"
    index.write_text("{not json")
    with pytest.raises(CheckpointError, match=r"model\.safetensors\.index\.json is not a readable JSON index"):
        checkpoint.read(folder)
    index.write_text(json.dumps({"weights": {}}))
    with pytest.raises(CheckpointError, match=r"index\.json has no 'weight_map'"):
        checkpoint.read(folder)


def sharded_folder(tmp_path):
    """A sharded checkpoint as --fsdp writes one (a plan, data files, record.pt), of two tensors."""
    import warnings

    import torch.distributed.checkpoint as dcp

    folder = tmp_path / "ckpt-00000001"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dcp.save({"trainee": {"model.w": torch.randn(4, 3), "model.b": torch.arange(5)}}, checkpoint_id=str(folder))
    torch.save({"format": checkpoint.FORMAT, "kind": "pretrain"}, folder / "record.pt")
    return folder


def rewrite_plan(folder, change):
    """Edit the plan as a crafted file would have it (the plan is ours here: read it with DCP)."""
    import pickle

    from torch.distributed.checkpoint import FileSystemReader

    plan = FileSystemReader(str(folder)).read_metadata()
    change(plan)
    (folder / ".metadata").write_bytes(pickle.dumps(plan))


def test_a_sharded_plan_that_points_outside_its_folder_is_refused(tmp_path):
    folder = sharded_folder(tmp_path)
    assert torch.equal(checkpoint.load_file(folder)["model"]["b"], torch.arange(5))
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "__0_0.distcp").write_bytes((folder / "__0_0.distcp").read_bytes())

    def elsewhere(plan):
        for info in plan.storage_data.values():
            info.relative_path = "../elsewhere/__0_0.distcp"

    rewrite_plan(folder, elsewhere)
    with pytest.raises(CheckpointError, match="which is not a file of"):
        checkpoint.load_file(folder)


def test_a_sharded_plan_claiming_a_huge_tensor_is_refused_before_allocating(tmp_path):
    folder = sharded_folder(tmp_path)

    def huge(plan):
        meta = plan.state_dict_metadata["trainee.model.w"]
        meta.size = torch.Size([2**20, 2**20])  # 4 TiB of float32
        meta.chunks[0].sizes = meta.size

    rewrite_plan(folder, huge)
    with pytest.raises(CheckpointError, match=r"claims \[1048576, 1048576\] .* bytes are stored for it"):
        checkpoint.load_file(folder)


STATED = {  # what a crafted config.json, card or record states, and the one-line error it gets
    "config: image_size 1,000,000": ("hf", {"image_size": 1_000_000}, "position tables over"),
    "config: 400 layers": ("hf", {"num_hidden_layers": 400}, "depths over 256"),
    "config: 30 layers, weights of 2": ("hf", {"num_hidden_layers": 30}, "states 30 blocks but its weights have 2"),
    "config: hidden_size as text": ("hf", {"hidden_size": "64"}, "hidden_size is '64'"),
    "config: hidden_size 0": ("hf", {"hidden_size": 0}, "hidden_size is 0"),
    "config: 1,000,000 wide": ("hf", {"hidden_size": 1_000_000, "intermediate_size": 4_000_000},
                               "widths over 16384"),
    "card: img_size 1,000,000": ("card", {"img_size": 1_000_000}, "position tables over"),
    "card: an unknown argument": ("card", {"layers_of_code": 1}, "unknown model argument(s) ['layers_of_code']"),
    "record: 128 wide, weights 64": ("record", {"dim": 128}, "weight patch_embed.proj.weight is (64, 3, 2, 16, 16)"),
    "record: a 16384-wide decoder it lacks": ("record-encoder", {"decoder_depth": 256, "decoder_dim": 16384,
                                                                 "decoder_heads": 16}, "has weights the file lacks"),
}


def crafted(tmp_path, form: str, change: dict):
    """A tiny classifier's weights with a config.json, card or record stating `change`."""
    from safetensors.torch import save_file as save_safetensors

    from trainer.checkpoint.export import export_safetensors

    model = create_classifier("vit_test", 2, **TINY)
    if form == "hf":
        return transformers_folder(tmp_path / "m", model, CONFIG | change)
    tmp_path.mkdir()
    if form == "record-encoder":  # a UMT student: an encoder without a pixel decoder
        model = create_model("vit_test", decoder_depth=0, **TINY)
    torch.save(checkpoint.model_record(model, "vit_test"), tmp_path / "c.pt")
    if form.startswith("record"):
        record = torch.load(tmp_path / "c.pt", weights_only=True)
        record["model_args"] |= change
        torch.save(record, tmp_path / "crafted.pt")
        return tmp_path / "crafted.pt"
    path = export_safetensors(checkpoint.read(tmp_path / "c.pt"), tmp_path / "w")
    card = json.loads(path.with_suffix(".json").read_text())
    card["model_args"] |= change
    path.with_suffix(".json").unlink()
    save_safetensors(checkpoint.read(tmp_path / "c.pt").state, path, metadata={"vmae": json.dumps(card)})
    return path


def test_stated_sizes_are_checked_against_the_weights_before_anything_is_built(tmp_path):
    from tests.hostile.limits import run_limited

    paths = {case: str(crafted(tmp_path / f"case{k}", form, change))
             for k, (case, (form, change, _)) in enumerate(STATED.items())}
    done = run_limited(f"""
from trainer import checkpoint
from trainer.errors import CheckpointError
for case, path in {paths!r}.items():
    try:
        ckpt = checkpoint.read(path)
        checkpoint.classifier(ckpt) if ckpt.kind == "classifier" else checkpoint.build("pretrain", ckpt.vit_args())
        print(case, "| built")
    except CheckpointError as e:
        print(case, "| refused:", str(e).replace(chr(10), " ") if len(str(e).splitlines()) == 1 else "MANY LINES")
""", limit_gb=4.5)
    assert done.returncode == 0, done.stderr[-2000:]
    said = dict(line.split(" | ", 1) for line in done.stdout.strip().splitlines())
    for case, (_, _, message) in STATED.items():
        assert said[case].startswith("refused:") and message in said[case], (case, said[case])
