"""UMT's video-language model (stage 2): the stage-1 student's encoder as the video tower, the
BERT-layout text tower (text.py), and the heads of the shared space: video and text projections,
a learnable temperature, the matching head and the masked-language-model head. The video's
embedding is the mean of its (visible) tokens through a new LayerNorm, projected; the text's is
its class token, projected. An image is a one-tubelet clip with its own position table.

Shapes: B batch, C=3 channels, T frames, N tokens, D video width, E shared width, L text tokens.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from trainer.models.layers import init_weights, sincos_table
from trainer.models.sizes import ViTConfig
from trainer.models.text import MLMHead, TextConfig, TextTower
from trainer.models.vit import VideoEncoder

TEMPERATURE = 0.07  # the contrastive temperature's start, clamped to [0.001, 0.5] (ALBEF, UMT)
TEMPERATURE_RANGE = (0.001, 0.5)


class VideoLanguageModel(nn.Module):
    def __init__(self, cfg: ViTConfig, text: TextConfig, embed_dim: int, vocab: tuple[str, ...] = ()):
        super().__init__()
        # the tokenizer's vocabulary travels with the weights, so that every checkpoint and export of
        # the model reads captions as it was trained to
        self.cfg, self.text_cfg, self.embed_dim, self.vocab = cfg, text, embed_dim, tuple(vocab)
        self.encoder = VideoEncoder(cfg)  # with its final norm: the stage-1 student's names
        side = cfg.img_size // cfg.patch
        self.register_buffer("image_pos", sincos_table(side * side, cfg.dim), persistent=False)
        self.vision_norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.vision_proj = nn.Linear(cfg.dim, embed_dim)
        self.text_proj = nn.Linear(text.dim, embed_dim)
        self.itm_head = nn.Linear(text.dim, 2)
        for head in (self.vision_norm, self.vision_proj, self.text_proj, self.itm_head):
            head.apply(init_weights)
        self.temp = nn.Parameter(torch.full((1,), TEMPERATURE))  # (1,), not a scalar: FSDP2 shards no scalars
        self.text = TextTower(text)  # BERT's own initialization; its weights come from a BERT folder
        self.text_mlm = MLMHead(text, self.text.embeddings.word_embeddings)

    def family_args(self) -> dict:
        return {"text_args": dataclasses.asdict(self.text_cfg), "embed_dim": self.embed_dim, "vocab": list(self.vocab)}

    def video_input(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A normalized (B, C, T, H, W) batch, and the position table it needs: an image (T = 1)
        is repeated to one tubelet and gets the one-tubelet table."""
        if x.shape[2] == 1:
            return x.expand(-1, -1, self.cfg.tubelet, -1, -1), self.image_pos
        return x, None

    def encode_video(self, x: torch.Tensor, hidden: torch.Tensor | None = None,
                     keep_last: int = 0) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(B, C, T, H, W) normalized -> the visible tokens after the final norm (B, N_vis, D), and
        the last `keep_last` blocks' outputs after it (for the alignment to the teacher)."""
        x, pos = self.video_input(x)
        tokens, layers = self.encoder.encode(x, hidden, keep_last, pos)
        norm = self.encoder.norm
        return norm(tokens), [norm(y) for y in layers]

    def video_embedding(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, N, D) -> (B, E), unit length: mean of the tokens, LayerNorm, projection."""
        return F.normalize(self.vision_proj(self.vision_norm(tokens.mean(dim=1))).float(), dim=-1)

    def encode_text(self, ids: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """(B, L) token ids and keep (False at padding) -> (B, L, D_text) after the text layers."""
        return self.text.text(ids, keep)

    def text_embedding(self, text: torch.Tensor) -> torch.Tensor:
        """(B, L, D_text) -> (B, E), unit length: the class token, projected."""
        return F.normalize(self.text_proj(text[:, 0]).float(), dim=-1)

    def match_logits(self, text: torch.Tensor, keep: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Whether each caption goes with its video: (B, 2) logits from the fused class token."""
        return self.itm_head(self.text.fuse(text, keep, tokens)[:, 0])

    def clamp_temperature(self) -> None:
        with torch.no_grad():
            self.temp.clamp_(*TEMPERATURE_RANGE)
