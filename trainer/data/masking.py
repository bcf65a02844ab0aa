"""Masks over a clip's tokens, made with numpy in the loader workers: which tokens the encoder
sees, and which the decoder rebuilds (VideoMAE V2's dual masking).

Tokens are laid out (T, H, W) in time-major order (the Geometry's grid). Masks are boolean arrays
over tokens where True means "masked" (hidden), as in the original code. Semantic masking (UMT)
needs the teacher's attention, so it is made in the training step (trainer/objectives/umt.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trainer.data.config import Geometry
from trainer.errors import ConfigError

ENCODER_MASKS = ("tube", "random", "semantic")

# Running-cell patterns over a 2x2 cell (positions 0 1 / 2 3) for each allowed ratio: the
# positions hidden from the decoder. Rolling the pattern one step per time slice makes the
# kept positions "run" over the cell, so every position is rebuilt every few slices.
_CELL_PATTERNS = {0.25: [1, 0, 0, 0], 0.5: [1, 1, 0, 0], 0.75: [1, 1, 1, 0]}


def tube_mask(grid: Geometry, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """Encoder mask: one random spatial mask repeated over time (hides int(ratio·H·W) per slice)."""
    t, h, w = grid.grid
    spatial = np.zeros(h * w, bool)
    spatial[rng.permutation(h * w)[: int(ratio * h * w)]] = True
    return np.tile(spatial, t)


def random_mask(grid: Geometry, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """Encoder mask: a new random spatial mask in every time slice, the same count hidden in each."""
    t, h, w = grid.grid
    hidden = int(ratio * h * w)
    out = np.zeros((t, h * w), bool)
    for k in range(t):
        out[k, rng.permutation(h * w)[:hidden]] = True
    return out.reshape(-1)


def running_cell_mask(grid: Geometry, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """Decoder mask: a 2x2-cell pattern hiding `ratio` of each cell, rolled one step per time
    slice from a random phase. ratio 0 hides nothing (the original VideoMAE decoder)."""
    t, h, w = grid.grid
    if ratio == 0:
        return np.zeros(grid.tokens, bool)
    if ratio not in _CELL_PATTERNS:
        raise ConfigError(f"decoder mask ratio must be 0, 0.25, 0.5 or 0.75, got {ratio}")
    if h % 2 or w % 2:
        raise ConfigError(f"the running-cell mask needs an even token grid, got {h}x{w}")
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


def dual_mask(grid: Geometry, encoder_ratio: float = 0.9, decoder_ratio: float = 0.5,
              rng: np.random.Generator | None = None) -> DualMask:
    """Decoder ratio 0 is the original VideoMAE: the decoder rebuilds exactly the tokens the
    encoder did not see (mask tokens there only)."""
    rng = rng or np.random.default_rng()
    encoder = tube_mask(grid, encoder_ratio, rng)
    decoder = ~encoder if decoder_ratio == 0 else running_cell_mask(grid, decoder_ratio, rng)
    return DualMask(encoder, decoder)


@dataclass(frozen=True)
class MaskSpec:
    """The masks a pretraining view carries, made in the workers: `hidden` (the encoder's mask,
    unless it is semantic) and `not_decoded` (only when the model has a pixel decoder)."""

    encoder: str = "tube"
    encoder_ratio: float = 0.9
    decoder_ratio: float | None = 0.5  # None: no pixel decoder

    def __post_init__(self):
        if self.encoder not in ENCODER_MASKS:
            raise ConfigError(f"mask type must be one of {', '.join(ENCODER_MASKS)}, got {self.encoder!r}")
        if not 0 <= self.encoder_ratio < 1:
            raise ConfigError(f"encoder mask ratio must be within [0, 1), got {self.encoder_ratio}")

    def make(self, grid: Geometry, rng: np.random.Generator) -> dict[str, np.ndarray]:
        if self.encoder == "tube" and self.decoder_ratio is not None:  # VideoMAE V2: one draw order
            m = dual_mask(grid, self.encoder_ratio, self.decoder_ratio, rng)
            return {"hidden": m.encoder, "not_decoded": m.decoder}
        out = {}
        if self.encoder != "semantic":
            out["hidden"] = (tube_mask if self.encoder == "tube" else random_mask)(grid, self.encoder_ratio, rng)
        if self.decoder_ratio:
            out["not_decoded"] = running_cell_mask(grid, self.decoder_ratio, rng)
        elif self.decoder_ratio == 0 and "hidden" in out:
            out["not_decoded"] = ~out["hidden"]
        # semantic masks with decoder ratio 0: the step decodes what the semantic mask hid
        return out
