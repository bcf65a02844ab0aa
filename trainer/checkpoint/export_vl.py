"""`vmae export --format transformers` of a video-language checkpoint: the towers as transformers
models and the shared space's heads as a safetensors file, in one folder:

    video/               VideoMAEModel: the video tower (the stage-1 student's encoder, final norm)
    text/                BertModel: the text-only layers, with vocab.txt (BertTokenizer reads it)
    heads.safetensors    vision_norm, vision_proj, text_proj, temp, and what only re-ranking and
                         MLM use (the fusion layers, itm_head, text_mlm), under vmae's names
    vmae.json            the card: the whole model's arguments, for `vmae export --format safetensors`
                         users who want all of it in one file instead

A clip's embedding is vision_proj(vision_norm(mean of VideoMAEModel's last_hidden_state)), a
caption's text_proj(BertModel's last_hidden_state[:, 0]), both L2-normalized (docs/transformers.md
shows it in a few lines of transformers).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from trainer.checkpoint.disk import save_safetensors
from trainer.checkpoint.export import INSTALL_HF, card, export_transformers, replace_folder, weights
from trainer.checkpoint.files import CARD
from trainer.checkpoint.reader import Checkpoint
from trainer.errors import CheckpointError
from trainer.models.families import PRETRAIN
from trainer.models.text import TextConfig

SHARED_SPACE = ("vision_norm.", "vision_proj.", "text_proj.", "temp")


def export_video_language(ckpt: Checkpoint, out: Path, model: str | None = None, overwrite: bool = False) -> Path:
    try:
        from transformers import BertConfig
    except ImportError as e:
        raise CheckpointError(f"exporting to transformers needs the transformers package: {INSTALL_HF}") from e
    out = Path(out)
    if out.exists() and not overwrite:
        raise CheckpointError(f"{out} exists; give another --out or --overwrite")
    state, text = weights(ckpt), TextConfig(**ckpt.family_args["text_args"])
    tmp = out.parent / f".{out.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        encoder = {k: v for k, v in state.items() if k.startswith("encoder.")}
        video = dataclasses.replace(ckpt, state=encoder, kind=PRETRAIN.name, family_args={}, objective={},
                                    model_args={**ckpt.vit_args(model), "decoder_depth": 0})
        export_transformers(video, tmp / "video", model)
        _write_bert(BertConfig, text, state, ckpt.family_args["vocab"], tmp / "text")
        rest = {k: v for k, v in state.items() if k not in encoder and not _in_bert(k, text)}
        save_safetensors(rest, tmp / "heads.safetensors", metadata={"format": "pt"})
        (tmp / CARD).write_text(json.dumps(card(ckpt, model), indent=2) + "\n")
        replace_folder(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _in_bert(key: str, text: TextConfig) -> bool:
    """Whether a weight is in the exported BertModel: the embeddings and the text-only layers."""
    if key.startswith("text.embeddings."):
        return True
    return key.startswith("text.encoder.layer.") and int(key.split(".")[3]) < text.text_layers


def _write_bert(config_class, text: TextConfig, state: dict, vocab: list[str], folder: Path) -> None:
    folder.mkdir()
    config = config_class(vocab_size=text.vocab_size, hidden_size=text.dim, num_hidden_layers=text.text_layers,
                          num_attention_heads=text.heads, intermediate_size=text.mlp_dim,
                          max_position_embeddings=text.max_positions, type_vocab_size=text.type_vocab,
                          layer_norm_eps=text.eps, hidden_dropout_prob=text.dropout, pad_token_id=text.pad_id,
                          hidden_act="gelu", architectures=["BertModel"])
    config.save_pretrained(folder)
    bert = {k.removeprefix("text."): v for k, v in state.items() if _in_bert(k, text)}
    save_safetensors(bert, folder / "model.safetensors", metadata={"format": "pt"})
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
