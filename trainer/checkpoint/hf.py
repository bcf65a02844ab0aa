"""The Hugging Face transformers layout of VideoMAE, both ways: weight names and config.json.

transformers holds the same network as vmae under other names (VideoMAEModel: the encoder;
VideoMAEForPreTraining: encoder + decoder; VideoMAEForVideoClassification: encoder without its
final norm, mean pooling, fc_norm, classifier). Two differences are in the weights themselves:
attention has separate query/key/value layers where vmae (as the released VideoMAE V2 files) has
one qkv matrix with q and v biases, and there is no layer scale, which vmae folds into the layer
it scales when writing. One is not: transformers' fc_norm and decoder norm use LayerNorm's
default eps (1e-5) where vmae's use 1e-6; outputs differ by about 1e-6 of their size.

Nothing here imports transformers: reading a downloaded folder needs only its config.json and
weights, and writing needs the library only for its config and processor files (export.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from trainer.errors import CheckpointError
from trainer.models.families import CLASSIFIER, PRETRAIN, Family

CONFIG = "config.json"
WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
ENCODER = "videomae."
# where a block's layers are in each layout, besides attention's q/k/v (vmae: one qkv matrix). The q
# and v biases are attention.attention.q_bias / v_bias in files of every transformers version (5.x
# names them query.bias / value.bias in memory and renames them when it loads and saves)
_BLOCK_LAYERS = (("norm1", "layernorm_before"), ("attn.proj", "attention.output.dense"),
                 ("norm2", "layernorm_after"), ("mlp.fc1", "intermediate.dense"), ("mlp.fc2", "output.dense"))
_QKV = "attention.attention."
# the layers a transformers name outside the blocks maps to (the same name where absent)
_TRUNK = {"embeddings.patch_embeddings.projection": "patch_embed.proj", "layernorm": "norm"}
_HEAD = {"classifier": "head"}


def is_folder(path: Path) -> bool:
    """A folder written by save_pretrained (or `vmae export --format transformers`) for VideoMAE."""
    return path.is_dir() and (path / CONFIG).is_file() and any((path / w).is_file() for w in WEIGHTS)


def read_config(path: Path) -> dict:
    try:
        config = json.loads((path / CONFIG).read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path / CONFIG} is not a readable JSON file ({e})") from e
    if config.get("model_type") != "videomae":
        raise CheckpointError(f"{path} holds a transformers '{config.get('model_type')}' model; vmae reads VideoMAE "
                              "models (model_type videomae) only")
    return config


def weight_files(path: Path) -> list[Path]:
    """The weight files of a transformers folder: one file, or the shards its index names."""
    for name in WEIGHTS:
        if (path / name).is_file():
            return _shards_of(path / name) if name.endswith(".index.json") else [path / name]
    raise CheckpointError(f"{path} has a {CONFIG} but no weights ({', '.join(WEIGHTS)})")


def _shards_of(index_file: Path) -> list[Path]:
    """The weight files a sharded folder's index names, each checked to be a file of the folder
    itself: the index is an input, and a '../' or absolute name in it would load weights from
    anywhere on the disk."""
    try:
        index = json.loads(index_file.read_text())
    except (OSError, ValueError, RecursionError) as e:
        raise CheckpointError(f"{index_file} is not a readable JSON index of weight files ({type(e).__name__}: "
                              f"{e})") from e
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not weight_map or \
            not all(isinstance(v, str) for v in weight_map.values()):
        raise CheckpointError(f"{index_file} has no 'weight_map' of weight names to file names; it is not a "
                              "transformers index")
    folder, shards = index_file.parent, []
    for name in sorted(set(weight_map.values())):
        if Path(name).name != name or name in (".", "..") or not (folder / name).is_file():
            raise CheckpointError(f"{index_file} names the weight file {name!r}, which is not a file of "
                                  f"{folder}; an index names files beside it only")
        shards.append(folder / name)
    return shards


def is_hf_state(state: dict) -> bool:
    return any(k.endswith("embeddings.patch_embeddings.projection.weight") for k in state)


# ---- config ------------------------------------------------------------------------------------

def vit_args(config: dict) -> dict:
    """ViTConfig arguments of a transformers VideoMAEConfig (as read from config.json); refuses
    what vmae's model cannot be (other activations, non-square inputs, another decoder MLP ratio)."""
    size, patch = _square(config.get("image_size", 224)), _square(config.get("patch_size", 16))
    if not isinstance(size, int) or not isinstance(patch, int):
        raise CheckpointError(f"vmae's models take square inputs and patches; this one has image_size {size}, "
                              f"patch_size {patch}")
    if config.get("hidden_act", "gelu") != "gelu":
        raise CheckpointError(f"vmae's blocks use exact GELU; this model uses {config['hidden_act']}")
    dim, inner = _whole(config, "hidden_size", 768), _whole(config, "intermediate_size", 3072)
    decoder_dim = _whole(config, "decoder_hidden_size", 384)
    decoder_inner = _whole(config, "decoder_intermediate_size", 1536)
    mlp_ratio = _ratio(inner, dim)
    if int(decoder_dim * mlp_ratio) != decoder_inner:
        raise CheckpointError(f"vmae's decoder widens its MLP as the encoder does ({inner}/{dim}); this model's "
                              f"decoder has {decoder_inner}/{decoder_dim}")
    return {"patch": patch, "tubelet": _whole(config, "tubelet_size", 2), "frames": _whole(config, "num_frames", 16),
            "img_size": size, "in_chans": _whole(config, "num_channels", 3), "dim": dim,
            "depth": _whole(config, "num_hidden_layers", 12), "heads": _whole(config, "num_attention_heads", 12),
            "mlp_ratio": mlp_ratio, "decoder_dim": decoder_dim,
            "decoder_depth": _whole(config, "decoder_num_hidden_layers", 4),
            "decoder_heads": _whole(config, "decoder_num_attention_heads", 6)}


def _whole(config: dict, key: str, default: int) -> int:
    """A size from config.json: a whole number (0 only for a decoder's depth), or a clear error."""
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if "decoder_num_hidden" in key else 1):
        raise CheckpointError(f"config.json: {key} is {value!r}; it must be a positive whole number")
    return value


def _square(side: int | list[int]) -> int | list[int]:
    """A size given as [n, n] as n (what is left a list is not square)."""
    return side[0] if isinstance(side, list | tuple) and len(set(side)) == 1 else side


def _ratio(inner: int, dim: int) -> float:
    """An MLP ratio r with int(dim · r) == inner (inner / dim can fall just short, e.g. 6144 / 1408)."""
    ratio = inner / dim
    return ratio if int(dim * ratio) == inner else (inner + 0.5) / dim


def config_fields(args: dict, found: Family, labels: list[str] | None, classes: int) -> dict:
    """Arguments of a transformers VideoMAEConfig for a model of family `found`: pooled (mean
    pooling and fc_norm, a classifier) or not (encoder norm; decoder when decoder_depth > 0)."""
    fields = {"image_size": args["img_size"], "patch_size": args["patch"], "num_channels": args["in_chans"],
              "num_frames": args["frames"], "tubelet_size": args["tubelet"], "hidden_size": args["dim"],
              "num_hidden_layers": args["depth"], "num_attention_heads": args["heads"],
              "intermediate_size": int(args["dim"] * args["mlp_ratio"]), "hidden_act": "gelu", "qv_bias": True,
              "layer_norm_eps": 1e-6, "use_mean_pooling": found.hf_pooled, "norm_pix_loss": True,
              "decoder_hidden_size": args["decoder_dim"], "decoder_num_hidden_layers": args["decoder_depth"],
              "decoder_num_attention_heads": args["decoder_heads"],
              "decoder_intermediate_size": int(args["decoder_dim"] * args["mlp_ratio"])}
    if found.head:
        names = labels or [f"LABEL_{i}" for i in range(classes)]
        fields |= {"id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}}
    return fields


def labels_of(config: dict) -> list[str] | None:
    """Class names by id from id2label, unless they are transformers' placeholders (LABEL_0, …)."""
    id2label = config.get("id2label") or {}
    names = [id2label.get(str(i), id2label.get(i)) for i in range(len(id2label))]
    if not names or None in names or names == [f"LABEL_{i}" for i in range(len(names))]:
        return None
    return names


# ---- weights -----------------------------------------------------------------------------------

def to_transformers(state: dict, found: Family) -> dict:
    """vmae's state dict (released VideoMAE V2 names) of a model of family `found` -> transformers'
    names."""
    src = dict(state)
    trunk = found.trunk
    out = _rename(src, {ours: theirs for theirs, ours in _TRUNK.items()}, trunk, ENCODER)
    for i in _indices(src, f"{trunk}blocks."):
        out |= _block_out(src, f"{trunk}blocks.{i}", f"{ENCODER}encoder.layer.{i}")
    for i in _indices(src, "decoder.blocks."):
        out |= _block_out(src, f"decoder.blocks.{i}", f"decoder.decoder_layers.{i}")
    out |= _rename(src, {ours: theirs for theirs, ours in _HEAD.items()})
    out |= src  # fc_norm, encoder_to_decoder, mask_token, decoder.norm, decoder.head: the same names
    return {k: v.contiguous() for k, v in out.items()}


def from_transformers(state: dict) -> tuple[str, dict]:
    """A transformers VideoMAE state dict -> (kind, vmae's state dict). VideoMAEModel and
    VideoMAEForPreTraining are pretraining checkpoints, VideoMAEForVideoClassification a classifier."""
    src = {k.removeprefix(ENCODER): v for k, v in state.items()}
    found = CLASSIFIER if "classifier.weight" in src else PRETRAIN  # the only families transformers has
    trunk = found.trunk
    out = _rename(src, _TRUNK, after=trunk)
    for i in _indices(src, "encoder.layer."):
        out |= _block_in(src, f"encoder.layer.{i}", f"{trunk}blocks.{i}")
    for i in _indices(src, "decoder.decoder_layers."):
        out |= _block_in(src, f"decoder.decoder_layers.{i}", f"decoder.blocks.{i}")
    out |= _rename(src, _HEAD)
    known = {"fc_norm.weight", "fc_norm.bias", "encoder_to_decoder.weight", "mask_token", "decoder.norm.weight",
             "decoder.norm.bias", "decoder.head.weight", "decoder.head.bias"}
    unknown = sorted(set(src) - known)
    if unknown:
        raise CheckpointError(f"weights that are not part of a VideoMAE model: {unknown[:5]}")
    return found.name, out | src


def _rename(src: dict, layers: dict[str, str], before: str = "", after: str = "") -> dict:
    """Pops from src the weight and bias of each layer that `layers` maps, renamed from
    before + old name to after + new name."""
    out = {}
    for old, new in layers.items():
        for p in ("weight", "bias"):
            if f"{before}{old}.{p}" in src:
                out[f"{after}{new}.{p}"] = src.pop(f"{before}{old}.{p}")
    return out


def _indices(state: dict, prefix: str) -> list[int]:
    return sorted({int(k[len(prefix):].split(".")[0]) for k in state if k.startswith(prefix)})


def _block_out(src: dict, ours: str, theirs: str) -> dict:
    """Pops block `ours` from src; its weights under transformers' names, layer scale folded in
    (gamma · (W x + b) is the layer (gamma · W) x + gamma · b)."""
    q, k, v = src.pop(f"{ours}.attn.qkv.weight").chunk(3)
    out = {f"{theirs}.{_QKV}query.weight": q, f"{theirs}.{_QKV}key.weight": k, f"{theirs}.{_QKV}value.weight": v}
    out[f"{theirs}.{_QKV}q_bias"] = src.pop(f"{ours}.attn.q_bias")
    out[f"{theirs}.{_QKV}v_bias"] = src.pop(f"{ours}.attn.v_bias")
    scales = {"attn.proj": src.pop(f"{ours}.gamma_1", None), "mlp.fc2": src.pop(f"{ours}.gamma_2", None)}
    for mine, hf in _BLOCK_LAYERS:
        weight, bias = src.pop(f"{ours}.{mine}.weight"), src.pop(f"{ours}.{mine}.bias")
        gamma = scales.get(mine)
        if gamma is not None:
            weight, bias = gamma[:, None] * weight, gamma * bias
        out |= {f"{theirs}.{hf}.weight": weight, f"{theirs}.{hf}.bias": bias}
    return out


def _block_in(src: dict, theirs: str, ours: str) -> dict:
    """Pops transformers' block `theirs` from src; its weights under vmae's names. A model
    without q/v biases (qv_bias false) gets zero ones, which is the same function."""
    q, k, v = (src.pop(f"{theirs}.{_QKV}{n}.weight") for n in ("query", "key", "value"))
    out = {f"{ours}.attn.qkv.weight": torch.cat([q, k, v])}
    for mine, hf_names in (("q_bias", ("q_bias", "query.bias")), ("v_bias", ("v_bias", "value.bias"))):
        out[f"{ours}.attn.{mine}"] = next((src.pop(f"{theirs}.{_QKV}{n}") for n in hf_names
                                           if f"{theirs}.{_QKV}{n}" in src), None)
    for name in ("q_bias", "v_bias"):
        if out[f"{ours}.attn.{name}"] is None:
            out[f"{ours}.attn.{name}"] = torch.zeros(q.shape[0], dtype=q.dtype)
    for mine, hf in _BLOCK_LAYERS:
        out |= {f"{ours}.{mine}.weight": src.pop(f"{theirs}.{hf}.weight"),
                f"{ours}.{mine}.bias": src.pop(f"{theirs}.{hf}.bias")}
    return out
