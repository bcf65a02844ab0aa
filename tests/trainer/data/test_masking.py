import numpy as np
import pytest

from trainer.data.config import Geometry
from trainer.data.masking import dual_mask, running_cell_mask, tube_mask


def test_vit_base_token_counts_of_dual_masking():
    """VideoMAE V2 at vit_base, 16x224x224: 160 encoder, 944 decoder and 704 loss tokens."""
    grid = Geometry(frames=16, img_size=224, patch=16, tubelet=2)
    for seed in range(5):
        m = dual_mask(grid, 0.9, 0.5, np.random.default_rng(seed))
        assert m.encoder_tokens == 160 and m.decoder_tokens == 944 and int(m.loss_tokens.sum()) == 704


def test_tube_mask_repeats_one_spatial_mask_over_time():
    grid = Geometry(frames=8, img_size=64, patch=16)
    m = tube_mask(grid, 0.75, np.random.default_rng(0)).reshape(grid.grid)
    assert (m == m[0]).all() and m[0].sum() == 12


@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.75])
def test_running_cell_hides_the_ratio_of_every_cell_and_runs(ratio):
    grid = Geometry(frames=16, img_size=64, patch=16)
    m = running_cell_mask(grid, ratio, np.random.default_rng(1)).reshape(grid.grid)
    t, h, w = grid.grid
    cells = m.reshape(t, h // 2, 2, w // 2, 2).transpose(0, 1, 3, 2, 4).reshape(t, -1, 4)
    assert (cells.mean(-1) == ratio).all()  # each 2x2 cell hides the same share
    assert not (m[0] == m[1]).all()  # the pattern moves from one time slice to the next
    assert (m[0] == m[4]).all()  # and comes back after four


def test_decoder_ratio_zero_is_the_original_videomae():
    grid = Geometry()
    m = dual_mask(grid, 0.9, 0.0, np.random.default_rng(0))
    assert m.decoder_tokens == 160 + 1408 and int(m.loss_tokens.sum()) == 1408  # every hidden token
    with pytest.raises(ValueError, match="0, 0.25, 0.5 or 0.75"):
        running_cell_mask(grid, 0.6, np.random.default_rng(0))
