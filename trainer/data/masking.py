"""Dual masking (VideoMAE V2): which tokens the encoder sees, and which the decoder rebuilds.

Tokens are laid out (T, H, W) in time-major order, T = frames / tubelet, H = W = size / patch.
Masks are boolean arrays over tokens where True means "masked" (hidden), as in the original
code, made with numpy in the data loader workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Running-cell patterns over a 2x2 cell (positions 0 1 / 2 3) for each allowed ratio: the
# positions hidden from the decoder. Rolling the pattern one step per time slice makes the
# kept positions "run" over the cell, so every position is rebuilt every few slices.
_CELL_PATTERNS = {0.25: [1, 0, 0, 0], 0.5: [1, 1, 0, 0], 0.75: [1, 1, 1, 0]}


@dataclass(frozen=True)
class TokenGrid:
    frames: int = 16
    size: int = 224
    patch: int = 16
    tubelet: int = 2

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.frames // self.tubelet, self.size // self.patch, self.size // self.patch

    @property
    def tokens(self) -> int:
        t, h, w = self.shape
        return t * h * w


def tube_mask(grid: TokenGrid, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """Encoder mask: one random spatial mask repeated over time (hides int(ratio·H·W) per slice)."""
    t, h, w = grid.shape
    hidden = int(ratio * h * w)
    spatial = np.zeros(h * w, bool)
    spatial[rng.permutation(h * w)[:hidden]] = True
    return np.tile(spatial, t)


def running_cell_mask(grid: TokenGrid, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """Decoder mask: a 2x2-cell pattern hiding `ratio` of each cell, rolled one step per time
    slice from a random phase. ratio 0 hides nothing (the original VideoMAE decoder)."""
    t, h, w = grid.shape
    if ratio == 0:
        return np.zeros(grid.tokens, bool)
    if ratio not in _CELL_PATTERNS:
        raise ValueError(f"decoder mask ratio must be 0, 0.25, 0.5 or 0.75, got {ratio}")
    if h % 2 or w % 2:
        raise ValueError(f"the running-cell mask needs an even token grid, got {h}x{w}")
    base = np.array(_CELL_PATTERNS[ratio], bool)
    phase = int(rng.integers(4))
    slices = []
    for k in range(t):
        cell = np.roll(base, k + phase).reshape(2, 2)
        slices.append(np.tile(cell, (h // 2, w // 2)).reshape(-1))
    return np.concatenate(slices)


@dataclass(frozen=True)
class DualMask:
    encoder: np.ndarray  # (N,) True = hidden from the encoder
    decoder: np.ndarray  # (N,) True = not rebuilt by the decoder

    @property
    def encoder_tokens(self) -> int:
        return int((~self.encoder).sum())

    @property
    def decoder_tokens(self) -> int:
        """Visible tokens plus one mask token per decoder-kept position."""
        return self.encoder_tokens + int((~self.decoder).sum())

    @property
    def loss_tokens(self) -> np.ndarray:
        """Hidden from the encoder and kept by the decoder: where the loss is computed."""
        return self.encoder & ~self.decoder


def dual_mask(grid: TokenGrid, encoder_ratio: float = 0.9, decoder_ratio: float = 0.5,
              rng: np.random.Generator | None = None) -> DualMask:
    """Decoder ratio 0 is the original VideoMAE: the decoder rebuilds exactly the tokens the
    encoder did not see (mask tokens there only)."""
    rng = rng or np.random.default_rng()
    encoder = tube_mask(grid, encoder_ratio, rng)
    decoder = ~encoder if decoder_ratio == 0 else running_cell_mask(grid, decoder_ratio, rng)
    return DualMask(encoder, decoder)
