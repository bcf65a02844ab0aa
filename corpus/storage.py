"""Storage profiles: how `vmae corpus build --for RECIPE` encodes clips for the frames a training
recipe reads. A recipe that reads 16 frames 4 apart (VideoMAE V2) never sees three frames in four
of a 30 fps clip, and one that takes a frame from each of 8 segments (UMT) fewer still: storing
only what is read makes a clip cheaper to decode and to keep. Each clip's row records the rate
it is stored at (fps) and its source's (source_fps), and the trainer reads the recipe's stride
in stored frames (trainer/data/sampling.py), so the same command trains on either corpus.

docs/performance.md ("Feeding a GPU") has what each profile costs and saves, measured."""

from __future__ import annotations

# Settings of the clip section each profile sets, under what the user gave.
STORAGE_PROFILES: dict[str, dict] = {
    "full": {},  # the source's frame rate, x264's keyframes: what any recipe can read
    # dense 16 frames at stride 4 of 30 fps video (pretraining, post-pretraining, fine-tuning):
    # every 4th frame, a keyframe every 16 stored frames (one window), decoded fast
    "pretrain": {"fps": 7.5, "gop": 16, "fast_decode": True},
    # one frame from each of 4-8 segments (UMT, the video-language stage): 4 frames a second
    "sparse": {"fps": 4.0, "gop": 8, "fast_decode": True},
}
PROFILE_HELP = {
    "full": "the source's rate (any recipe)",
    "pretrain": "7.5 fps, a keyframe every 16 frames, fast to decode (16 frames 4 apart of 30 fps video: "
                "pretraining and fine-tuning)",
    "sparse": "4 fps, a keyframe every 8 frames, fast to decode (a frame per segment: UMT, the video-language "
              "stage)",
}


def described_profiles() -> str:
    return "; ".join(f"{name}: {PROFILE_HELP[name]}" for name in STORAGE_PROFILES)


def storage_presets(chosen: dict) -> list[dict]:
    """The clip settings the chosen `--for` profile calls for (a layer under the user's own)."""
    profile = STORAGE_PROFILES.get(chosen.get("clip", {}).get("storage") or "full", {})
    return [{"clip": dict(profile)}] if profile else []
