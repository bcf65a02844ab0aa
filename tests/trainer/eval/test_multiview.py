"""The multi-view protocol against a hand computation on a toy model."""

import numpy as np
import torch

from trainer.data.config import Geometry
from trainer.data.views import crop_views, spatial_offsets, temporal_starts, view_indices
from trainer.eval.multiview import scores, video_probabilities


def views(frames, geometry, clips, crops):
    """The test views as eval cuts them: temporal views, then crops."""
    return crop_views(frames[view_indices(len(frames), geometry, clips)], geometry.img_size, crops)


class MeanColour(torch.nn.Module):
    """Toy classifier: logits are the mean of each colour channel (3 classes)."""

    def forward(self, video):  # (B, C, T, H, W) uint8
        return video.float().mean(dim=(2, 3, 4)) / 10


def test_views_and_averaging_match_a_hand_computation():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(40, 20, 30, 3), dtype=np.uint8)  # landscape, already short side 20
    v = views(frames, Geometry(frames=4, stride=2, img_size=20, patch=4), clips=3, crops=3)
    assert v.shape == (9, 3, 4, 20, 20)
    # by hand: windows of 7 frames start at 0, 16, 33; crops at 0, 5, 10 along the width
    assert temporal_starts(40, 4, 2, 3) == [0, 16, 33] and spatial_offsets(30, 20, 3) == [0, 5, 10]
    expected = []
    for s in (0, 16, 33):
        for off in (0, 5, 10):
            clip = frames[s : s + 7 : 2, :, off : off + 20]  # (4, 20, 20, 3)
            logits = clip.reshape(-1, 3).astype(np.float64).mean(axis=0) / 10
            expected.append(np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum())
    got = video_probabilities(MeanColour()(v))
    assert np.allclose(got.numpy(), np.mean(expected, axis=0), atol=1e-5)


def test_portrait_crops_run_along_the_height_and_short_clips_repeat_frames():
    frames = np.zeros((5, 48, 32, 3), np.uint8)
    frames[:, :16] = 255  # the top third is white
    v = views(frames, Geometry(frames=8, stride=1, img_size=16), clips=2, crops=3)  # resized to 24x16
    assert v.shape == (6, 3, 8, 16, 16)
    # the top crop holds the 8 white rows of 24 (half of it), the bottom crop none
    assert abs(v[0].float().mean() - 127.5) < 4 and v[2].float().mean() < 10  # edge row blended by resizing


def test_scores():
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    labels = np.array([0, 1, 1, 2])
    s = scores(probs, labels, 3)
    assert s["top1"] == 0.5 and s["top5"] == 1.0
    assert s["confusion"].tolist() == [[1, 0, 0], [1, 0, 1], [0, 0, 1]]
    assert s["per_class"].tolist() == [1.0, 0.0, 1.0]


def test_segment_views_take_one_frame_per_segment_at_a_different_place_per_view():
    # 40 frames in 8 segments of 5: view k of 2 takes frame 5·i + floor(5·(k + 0.5)/2) of segment i
    idx = view_indices(40, Geometry(frames=8, sampling="segments", tubelet=1), clips=2)
    assert idx.tolist() == [[5 * i + 1 for i in range(8)], [5 * i + 3 for i in range(8)]]
    # a clip shorter than the frame count repeats frames instead of failing
    assert view_indices(3, Geometry(frames=8, sampling="segments", tubelet=1), 1).tolist() == [[0, 0, 0, 1, 1, 2, 2, 2]]
