"""A local transformers BERT folder as the video-language model's text tower: its config.json
(BertConfig's fields), its weights (read as data, as every checkpoint is) under the text tower's
names, and its vocab.txt. Nothing is fetched: the folder is one that save_pretrained wrote, or a
copy of a downloaded bert-base-uncased."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from trainer.checkpoint import hf
from trainer.checkpoint.files import load_file, unwrap_state_dict
from trainer.data.captions import missing_tokens, read_vocab
from trainer.errors import CheckpointError
from trainer.models.sizes import ModelError
from trainer.models.text import MLMHead, TextConfig, TextTower, check_args

VOCAB = "vocab.txt"
# BertConfig's field -> the text tower's
_FIELDS = {"vocab_size": "vocab_size", "hidden_size": "dim", "num_hidden_layers": "depth",
           "num_attention_heads": "heads", "intermediate_size": "mlp_dim", "max_position_embeddings": "max_positions",
           "type_vocab_size": "type_vocab", "layer_norm_eps": "eps", "hidden_dropout_prob": "dropout"}
SPECIAL = {"pad_id": "[PAD]", "cls_id": "[CLS]", "sep_id": "[SEP]", "mask_id": "[MASK]"}


@dataclass(frozen=True)
class BertFolder:
    path: Path
    config: TextConfig  # with the vocabulary's special ids; fusion layers and video width as asked
    state: dict[str, torch.Tensor]  # under the video-language model's names (text.*, text_mlm.*)
    vocab: list[str]  # the tokens of vocab.txt, in id order


def read_bert(folder: str | Path, fusion_layers: int, video_dim: int) -> BertFolder:
    """The text tower a BERT folder describes, its last `fusion_layers` layers cross-attending to
    video tokens of width `video_dim`; its weights checked against that tower's shapes."""
    folder = Path(folder)
    if not (folder / "config.json").is_file() or not (folder / VOCAB).is_file():
        raise CheckpointError(f"{folder} is not a BERT folder: it needs config.json, {VOCAB} and the weights "
                              "(model.safetensors or pytorch_model.bin), as transformers' save_pretrained writes them")
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{folder / 'config.json'} is not a readable JSON file ({e})") from e
    if not isinstance(config, dict) or config.get("model_type") != "bert":
        raise CheckpointError(f"{folder} holds a '{config.get('model_type') if isinstance(config, dict) else '?'}' "
                              "model; the text tower is BERT (model_type bert)")
    args = {ours: config[theirs] for theirs, ours in _FIELDS.items() if theirs in config}
    args |= special_ids(folder / VOCAB) | {"fusion_layers": fusion_layers, "video_dim": video_dim}
    try:
        text = check_args(args)
    except ModelError as e:
        raise CheckpointError(f"{folder}: {e}") from e
    state = {}
    for file in hf.weight_files(folder):
        state |= unwrap_state_dict(load_file(file))
    vocab = read_vocab(folder / VOCAB)
    if len(vocab) != text.vocab_size:
        raise CheckpointError(f"{folder / VOCAB} lists {len(vocab)} tokens and config.json says vocab_size "
                              f"{text.vocab_size}; they must agree")
    ours = _ours(state, folder)
    check_shapes(text, ours, folder)
    return BertFolder(folder, text, ours, vocab)


def check_shapes(text: TextConfig, state: dict[str, torch.Tensor], folder: Path) -> None:
    """Every shape config.json states, against the weights, before anything is built: a config
    stating a far larger tower than its weights (hidden 4096, 48 layers: ~38 GB) would otherwise be
    allocated layer by layer first. The tower is laid out on the meta device (no memory)."""
    with torch.device("meta"):
        tower = TextTower(text)
        head = MLMHead(text, tower.embeddings.word_embeddings)
    stated = {f"text.{k}": tuple(v.shape) for k, v in tower.state_dict().items()}
    stated |= {f"text_mlm.{k}": tuple(v.shape) for k, v in head.state_dict().items()}
    wrong = [f"{k} {tuple(v.shape)} (config.json: {stated[k] if k in stated else 'none'})"
             for k, v in state.items() if stated.get(k) != tuple(v.shape)]
    # what BERT itself has (the fusion layers' cross-attention and the MLM head are vmae's to add)
    missing = [k for k in stated if k.startswith("text.") and ".crossattention." not in k and k not in state]
    if wrong or missing:
        raise CheckpointError(f"{folder}: config.json states a text tower of width {text.dim} and {text.depth} "
                              f"layers that its weights do not hold: "
                              + "; ".join(([f"{len(wrong)} weights of other shapes, e.g. {wrong[0]}"] if wrong else [])
                                          + ([f"{len(missing)} weights missing, e.g. {missing[0]}"] if missing
                                             else [])))


def special_ids(vocab: Path) -> dict[str, int]:
    """The ids of [PAD], [CLS], [SEP] and [MASK]: their lines in vocab.txt."""
    tokens = read_vocab(vocab)
    if missing := missing_tokens(tokens):
        raise CheckpointError(f"{vocab} lacks the special tokens {missing}; it is not a BERT vocabulary"
                              + (" (without [UNK] the first word it cannot spell stops the run)"
                                 if "[UNK]" in missing else ""))
    lines = {token: i for i, token in enumerate(tokens)}
    return {name: lines[token] for name, token in SPECIAL.items()}


def _ours(state: dict, folder: Path) -> dict[str, torch.Tensor]:
    """BERT's names (BertModel, BertForMaskedLM, BertForPreTraining) -> the text tower's; the
    pooler, next-sentence head and the tied decoder are left out."""
    out = {}
    for key, value in state.items():
        key = key.removeprefix("bert.").replace(".gamma", ".weight").replace(".beta", ".bias")
        if key.startswith(("embeddings.", "encoder.")) and not key.endswith("position_ids"):
            out[f"text.{key}"] = value
        elif key.startswith("cls.predictions.") and not key.startswith("cls.predictions.decoder."):
            out[f"text_mlm.{key.removeprefix('cls.')}"] = value
    if not any(k.startswith("text.encoder.layer.") for k in out):
        raise CheckpointError(f"{folder}'s weights hold no BERT layers (encoder.layer.*); its first keys: "
                              f"{sorted(state)[:5]}")
    return out


def load_bert(model: torch.nn.Module, bert: BertFolder) -> set[str]:
    """The BERT weights into the model's text tower; returns the names loaded. Every weight of the
    folder must fit (a shape that differs is a message naming the folder)."""
    own = model.state_dict()
    wrong = [k for k, v in bert.state.items() if k not in own or tuple(own[k].shape) != tuple(v.shape)]
    if wrong:
        raise CheckpointError(f"{bert.path}: weights that do not fit its own config.json: {wrong[:5]}")
    model.load_state_dict(bert.state, strict=False)
    return set(bert.state)
