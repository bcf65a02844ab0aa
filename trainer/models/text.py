"""The text tower of the video-language model, in BERT's layout and weight names (so the weights of
a transformers BERT folder load as they are): embeddings, then layers whose first ones are
text-only and whose last ones are fusion layers, which cross-attend to the video tokens between
self-attention and the feed-forward (UMT, after ALBEF; the cross-attention starts new); and BERT's
masked-language-model head, its decoder tied to the word embeddings.

Shapes: B batch, L tokens, D text width, N video tokens, V video width.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torch.utils.checkpoint as checkpoint
from torch import nn

from trainer.models.sizes import ModelError


@dataclass(frozen=True)
class TextConfig:
    vocab_size: int = 30522
    dim: int = 768
    depth: int = 12
    heads: int = 12
    mlp_dim: int = 3072
    max_positions: int = 512
    type_vocab: int = 2
    eps: float = 1e-12
    dropout: float = 0.1
    fusion_layers: int = 3  # the last ones cross-attend to the video (UMT: 3 of BERT-base's 12, 5 of large's 24)
    video_dim: int = 768
    # the tokenizer's special tokens, which masking must know
    pad_id: int = 0
    cls_id: int = 101
    sep_id: int = 102
    mask_id: int = 103
    grad_checkpointing: bool = False

    @property
    def text_layers(self) -> int:
        return self.depth - self.fusion_layers


class Attention(nn.Module):
    """BERT's attention: query from x, key and value from `context` (x itself, or the video)."""

    def __init__(self, dim: int, heads: int, context_dim: int, eps: float, dropout: float):
        super().__init__()
        self.self = nn.Module()
        self.self.query = nn.Linear(dim, dim)
        self.self.key = nn.Linear(context_dim, dim)
        self.self.value = nn.Linear(context_dim, dim)
        self.output = nn.Module()
        self.output.dense = nn.Linear(dim, dim)
        self.output.LayerNorm = nn.LayerNorm(dim, eps=eps)
        self.heads, self.dropout = heads, dropout

    def forward(self, x: torch.Tensor, context: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        """x (B, L, D), context (B, M, C), keep (B, M) bool or None -> (B, L, D)."""
        b, n, d = x.shape
        split = lambda t: t.view(b, t.shape[1], self.heads, d // self.heads).transpose(1, 2)  # noqa: E731
        q, k, v = split(self.self.query(x)), split(self.self.key(context)), split(self.self.value(context))
        mask = keep[:, None, None, :] if keep is not None else None
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0)
        out = F.dropout(self.output.dense(out.transpose(1, 2).reshape(b, n, d)), self.dropout, self.training)
        return self.output.LayerNorm(out + x)


class Layer(nn.Module):
    """self-attention → (fusion layers: cross-attention to the video) → feed-forward."""

    def __init__(self, cfg: TextConfig, fusion: bool):
        super().__init__()
        self.attention = Attention(cfg.dim, cfg.heads, cfg.dim, cfg.eps, cfg.dropout)
        self.crossattention = Attention(cfg.dim, cfg.heads, cfg.video_dim, cfg.eps, cfg.dropout) if fusion else None
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(cfg.dim, cfg.mlp_dim)
        self.output = nn.Module()
        self.output.dense = nn.Linear(cfg.mlp_dim, cfg.dim)
        self.output.LayerNorm = nn.LayerNorm(cfg.dim, eps=cfg.eps)
        self.dropout = cfg.dropout

    def forward(self, x: torch.Tensor, keep: torch.Tensor, video: torch.Tensor | None) -> torch.Tensor:
        x = self.attention(x, x, keep)
        if self.crossattention is not None:
            x = self.crossattention(x, video, None)  # every video token is real: no mask
        y = F.dropout(self.output.dense(F.gelu(self.intermediate.dense(x))), self.dropout, self.training)
        return self.output.LayerNorm(y + x)


class Embeddings(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.dim, padding_idx=cfg.pad_id)
        self.position_embeddings = nn.Embedding(cfg.max_positions, cfg.dim)
        self.token_type_embeddings = nn.Embedding(cfg.type_vocab, cfg.dim)
        self.LayerNorm = nn.LayerNorm(cfg.dim, eps=cfg.eps)
        self.dropout = cfg.dropout

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.word_embeddings(ids) + self.position_embeddings(positions) + self.token_type_embeddings.weight[0]
        return F.dropout(self.LayerNorm(x), self.dropout, self.training)  # (B, L, D)


class Encoder(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.layer = nn.ModuleList(Layer(cfg, fusion=i >= cfg.text_layers) for i in range(cfg.depth))


class TextTower(nn.Module):
    """Text mode runs the text-only layers (the caption's own features); fusion mode runs the
    fusion layers on those features with the video (matching, masked language modelling)."""

    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.cfg = cfg
        self.embeddings = Embeddings(cfg)
        self.encoder = Encoder(cfg)

    def _run(self, layers, x: torch.Tensor, keep: torch.Tensor, video: torch.Tensor | None) -> torch.Tensor:
        for layer in layers:
            if self.cfg.grad_checkpointing and x.requires_grad:
                x = checkpoint.checkpoint(layer, x, keep, video, use_reentrant=False)
            else:
                x = layer(x, keep, video)
        return x

    def text(self, ids: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """ids (B, L), keep (B, L) bool (False at padding) -> (B, L, D) after the text-only layers."""
        return self._run(self.encoder.layer[:self.cfg.text_layers], self.embeddings(ids), keep, None)

    def fuse(self, text: torch.Tensor, keep: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        """text (B, L, D) from text(), video (B, N, V) -> (B, L, D) after the fusion layers."""
        return self._run(self.encoder.layer[self.cfg.text_layers:], text, keep, video)


class MLMHead(nn.Module):
    """BERT's prediction head: dense → GELU → LayerNorm → decoder (tied to the word embeddings)."""

    def __init__(self, cfg: TextConfig, embeddings: nn.Embedding):
        super().__init__()
        self.predictions = nn.Module()
        self.predictions.transform = nn.Module()
        self.predictions.transform.dense = nn.Linear(cfg.dim, cfg.dim)
        self.predictions.transform.LayerNorm = nn.LayerNorm(cfg.dim, eps=cfg.eps)
        self.predictions.bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        self.embeddings = [embeddings]  # a reference, not a submodule: its weight is the tower's

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.predictions.transform
        x = t.LayerNorm(F.gelu(t.dense(x)))
        return x @ self.embeddings[0].weight.T + self.predictions.bias  # (…, vocab)


# what a stated text tower (a record's, a BERT folder's config.json) may ask for before it is built
_BOUNDS = {"vocab_size": 1 << 20, "dim": 16384, "depth": 256, "heads": 256, "mlp_dim": 65536, "max_positions": 8192,
           "type_vocab": 64, "fusion_layers": 256, "video_dim": 16384}


def check_args(args: dict) -> TextConfig:
    """The TextConfig that `args` state, each value checked; ModelError (one line) otherwise."""
    unknown = sorted(set(args) - {f.name for f in dataclasses.fields(TextConfig)})
    if unknown:
        raise ModelError(f"unknown text tower argument(s) {unknown}")
    for name, value in args.items():
        if name in _BOUNDS or name.endswith("_id"):
            top = _BOUNDS.get(name, (1 << 20) - 1)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
                raise ModelError(f"text tower argument {name} must be a whole number within [0, {top}], got {value!r}")
    cfg = TextConfig(**args)
    if cfg.dim % cfg.heads or not 0 <= cfg.fusion_layers < cfg.depth or cfg.vocab_size <= max(
            cfg.pad_id, cfg.cls_id, cfg.sep_id, cfg.mask_id) or not 0 <= cfg.dropout < 1:
        raise ModelError(f"not a text tower vmae builds: width {cfg.dim} / {cfg.heads} heads, {cfg.fusion_layers} "
                         f"fusion of {cfg.depth} layers (at least one text-only layer), special ids within a "
                         f"{cfg.vocab_size}-token vocabulary")
    return cfg


def check_family_args(args: dict) -> None:
    """A video-language record's own arguments: its text tower, shared width and vocabulary."""
    missing = sorted({"text_args", "embed_dim", "vocab"} - set(args))
    if missing:
        raise ModelError(f"the video-language model's arguments lack {missing}")
    if not isinstance(args["text_args"], dict):
        raise ModelError(f"text_args must be a mapping, got {type(args['text_args']).__name__}")
    cfg = check_args(args["text_args"])
    width, vocab = args["embed_dim"], args["vocab"]
    if isinstance(width, bool) or not isinstance(width, int) or not 0 < width <= _BOUNDS["dim"]:
        raise ModelError(f"embed_dim must be a whole number within [1, {_BOUNDS['dim']}], got {width!r}")
    if not isinstance(vocab, list) or len(vocab) != cfg.vocab_size or not all(isinstance(w, str) for w in vocab):
        raise ModelError(f"the vocabulary must list {cfg.vocab_size} tokens, as the text tower's vocab_size says")
    if "[UNK]" not in vocab:  # the tokenizer's stand-in for every word the vocabulary cannot spell
        raise ModelError("the vocabulary lacks [UNK]: the first caption with a word it cannot spell would stop the "
                         "run")
