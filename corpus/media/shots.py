"""Shot boundaries of a video (PySceneDetect's adaptive detector: a cut where the frame-to-frame
change in hue, saturation and lightness jumps well above its rolling average, so flicker and
fast motion cut less than with a fixed threshold), and the clips that follow them: short shots
merged, long ones cut.

A boundary is placed halfway between the last frame of one shot and the first frame of the
next, so that cutting there with ffmpeg (which keeps frames at or after the start) can never
take a frame of the wrong shot, whatever the rounding of the time."""

from __future__ import annotations

import math

from corpus.errors import StepError


def detect_cuts(path: str, start_s: float, end_s: float, fps: float, threshold: float, min_s: float
                ) -> list[float]:
    """Boundaries (seconds in the file) where a new shot begins strictly inside (start_s, end_s);
    no two within min_s (the detector skips a cut that close to the one before)."""
    import logging

    from scenedetect import AdaptiveDetector, SceneManager, VideoOpenFailure, open_video

    logging.getLogger("pyscenedetect").setLevel(logging.ERROR)
    try:
        video = open_video(path, backend="opencv")
    except (VideoOpenFailure, OSError) as e:
        raise StepError("corrupt", f"the shot detector could not open the video: {e}") from e
    if start_s > 0:
        video.seek(start_s)
    manager = SceneManager()
    manager.add_detector(AdaptiveDetector(adaptive_threshold=threshold, min_scene_len=max(1, round(min_s * fps))))
    manager.detect_scenes(video, end_time=end_s)
    starts = [scene[0].frame_num for scene in manager.get_scene_list(start_in_scene=True)[1:]]
    # the detector counts frames at the stream's rate: back to seconds, halfway before the frame
    rate = float(video.frame_rate) or fps
    return [b for b in ((f - 0.5) / rate for f in starts) if start_s < b < end_s]


def shot_clips(start_s: float, end_s: float, cuts: list[float], min_s: float, max_s: float | None
               ) -> list[tuple[float, float, float, float]]:
    """Clips of [start_s, end_s) that follow the cuts, as (start, end, shot_start, shot_end).
    A shot shorter than min_s joins the shot before it (the first joins the one after); a shot
    longer than max_s is cut into equal pieces no longer than max_s, each recording its shot."""
    edges = [start_s, *sorted(c for c in cuts if start_s < c < end_s), end_s]
    shots = [[a, b] for a, b in zip(edges[:-1], edges[1:], strict=True)]
    merged: list[list[float]] = []
    for shot in shots:
        if merged and (shot[1] - shot[0] < min_s or merged[-1][1] - merged[-1][0] < min_s):
            merged[-1][1] = shot[1]  # a short shot (or one after a short first shot) joins its predecessor
        else:
            merged.append(shot)
    clips = []
    for a, b in merged:
        pieces = max(1, math.ceil((b - a) / max_s - 1e-9)) if max_s else 1
        step = (b - a) / pieces
        clips += [(a + k * step, a + (k + 1) * step, a, b) for k in range(pieces)]
    return clips
