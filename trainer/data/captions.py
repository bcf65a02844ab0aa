"""Captions as the text tower reads them: lower-cased, punctuation stripped (UMT's pre_text), then
BERT WordPiece tokens from the run's vocab.txt, with [CLS] … [SEP], cut and padded to a fixed
length (32 by default) so that every batch has one shape. A caption is cut to a few characters per
token it may keep before any of that: normalizing and tokenizing cost its whole length (the
tokenizer keeps every token's offsets: ~0.6 GB per MiB), and only the first tokens are kept."""

from __future__ import annotations

import re
from pathlib import Path

import torch

_PUNCTUATION = re.compile(r"[^\w\s]")
CHARS_PER_TOKEN = 16  # characters kept per token kept: English averages under 6 per WordPiece token
# the tokens a BERT vocabulary must hold: [UNK] stands for every word it cannot spell
REQUIRED_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """'A dog, catching a Frisbee!' -> 'a dog catching a frisbee'."""
    return _SPACES.sub(" ", _PUNCTUATION.sub(" ", text.lower())).strip()


def read_vocab(path: str | Path) -> list[str]:
    """A BERT vocab.txt: one token per line, its line number its id."""
    return Path(path).read_text(encoding="utf-8").splitlines()


def missing_tokens(vocab: list[str] | tuple[str, ...]) -> list[str]:
    """The tokens of REQUIRED_TOKENS that `vocab` lacks."""
    have = set(vocab)
    return [token for token in REQUIRED_TOKENS if token not in have]


class Tokenizer:
    """Captions -> (ids (B, L) int64, keep (B, L) bool, False at padding), with a BERT vocabulary
    (its tokens in id order, as vocab.txt lists them)."""

    def __init__(self, vocab: list[str] | tuple[str, ...], max_tokens: int = 32):
        from tokenizers import BertWordPieceTokenizer

        self.vocab, self.max_tokens = list(vocab), max_tokens
        if missing := missing_tokens(self.vocab):
            raise ValueError(f"the vocabulary lacks {missing}: it is not a BERT vocabulary")
        self._tok = BertWordPieceTokenizer({token: i for i, token in enumerate(self.vocab)}, lowercase=True)
        self.pad_id = self._tok.token_to_id("[PAD]")
        self._tok.enable_truncation(max_tokens)
        self._tok.enable_padding(length=max_tokens, pad_id=self.pad_id, pad_token="[PAD]")

    def __call__(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        cut = self.max_tokens * CHARS_PER_TOKEN
        encoded = self._tok.encode_batch([normalize(c[:cut]) for c in captions])
        ids = torch.tensor([e.ids for e in encoded], dtype=torch.long)
        keep = torch.tensor([e.attention_mask for e in encoded], dtype=torch.bool)
        return ids, keep

    def __reduce__(self):  # loader workers get the vocabulary's path, not the Rust object
        return Tokenizer, (self.vocab, self.max_tokens)
