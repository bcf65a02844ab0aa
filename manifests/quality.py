"""The quality signals of a clip: columns of clips/ that the build computes on the frames it
already decodes, that build filters (`vmae corpus build --filter`) and recipes (`min_sharpness`,
`max_frozen`, ...) hold against thresholds. Each says which way is worse and the reason word a
clip kept out for it gets. The defaults are calibrated on cases with known answers (docs/corpus.md,
"Quality signals"); a recipe or a filter may set its own.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Signal:
    column: str
    bound: str  # "min": lower values are worse; "max": higher values are worse
    reason: str  # error_kind / reject reason of a clip kept out for it
    default: float  # the published threshold
    meaning: str

    @property
    def key(self) -> str:
        """Its threshold's name in recipes and filter options: min_motion, max_frozen, ..."""
        return f"{self.bound}_{self.column}"

    def fails(self, value: float | None, threshold: float) -> bool:
        """Whether a value is on the wrong side of the threshold (a missing value never fails)."""
        if value is None or value != value:  # None or NaN: not measured (an image, an older corpus)
            return False
        return value < threshold if self.bound == "min" else value > threshold

    def detail(self, value: float, threshold: float) -> str:
        side = "below" if self.bound == "min" else "above"
        return f"{self.column} {value:.3g} is {side} the {self.key} of {threshold:g}"


SIGNALS: dict[str, Signal] = {s.column: s for s in (
    Signal("motion", "min", "too_still", 0.5,
           "mean gray-level change (0-255) between frames 0.25 s apart, bars left out; a title card or a slide "
           "scores near 0, a pan or a moving subject several units to tens"),
    Signal("sharpness", "min", "blurry", 3.0,
           "median over frames of the mean absolute Laplacian (gray levels) at 144 px high, bars left out; "
           "sharp footage scores 6 to 25, a Gaussian blur of sigma 2 takes a third to a half of that off"),
    Signal("frozen", "max", "frozen", 0.8,
           "share (0-1) of successive sampled frames (4 or more a second) that do not change: 1 for a still "
           "picture, most of a slideshow, near 0 for video"),
    Signal("bars", "max", "letterboxed", 0.35,
           "share (0-1) of the frame's area taken by dark uniform bars (letterbox, pillarbox); the signature "
           "and the other signals already leave them out"),
    Signal("overlay", "max", "overlaid", 0.01,
           "share (0-1) of the frame (bars left out) that is a strong edge in 90% or more of the sampled frames "
           "while the picture changes: burned-in captions, logos, tickers, screen recordings; 0 when the clip "
           "is still (then every edge stays, and `frozen` tells)"),
)}
