"""Sizing a GPU's data feed from a laptop: at a target MFU, a GPU of a given peak consumes
MFU × peak / FLOPs-per-clip trained clips per second; one loader worker (one CPU core) delivers
the rate measured here; the cores a GPU needs are the first over the second, rounded up. Plain
arithmetic on figures `vmae bench` measures (no torch)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from trainer.measure.peaks import KNOWN_GPUS


@dataclass(frozen=True)
class FeedPlan:
    gpu: str  # what the peak is: a datasheet entry, or a figure given
    peak_tflops: float  # dense, in the run's precision
    mfu: float  # the utilization aimed at
    gflops_per_clip: float  # model FLOPs of one trained clip (3 x trained forward + frozen forward)
    clips_per_core: float  # trained clips/s one loader worker delivers on this machine

    @property
    def consumed_clips_s(self) -> float:
        """Trained clips/s the GPU takes at the target MFU."""
        return self.mfu * self.peak_tflops * 1e12 / (self.gflops_per_clip * 1e9)

    @property
    def cores(self) -> int:
        """Loader workers (cores) per GPU at the rate measured here."""
        return math.ceil(self.consumed_clips_s / self.clips_per_core)

    def to_json(self) -> dict:
        return asdict(self) | {"consumed_clips_s": self.consumed_clips_s, "cores": self.cores}


def gpu_peak(gpu: str, precision: str) -> tuple[str, float]:
    """(what it is, dense TFLOP/s) of a GPU named as its datasheet entry (h100, h200, a100, l40s, …,
    any case), or given as a number of TFLOP/s."""
    try:
        given = float(gpu)
    except ValueError:
        given = None
    if given is not None:
        if not given > 0:
            raise ValueError(f"--plan-for {gpu}: give a peak above 0 TFLOP/s, or a GPU's name")
        return f"{given:g} TFLOP/s (given)", given
    for name, peaks in KNOWN_GPUS:
        if name.lower() == gpu.strip().lower():
            if precision not in peaks:
                raise ValueError(f"--plan-for {gpu}: its datasheet has no {precision} figure (it has "
                                 f"{', '.join(peaks)}); choose another --precision")
            return f"{name}, {precision} datasheet", peaks[precision]
    known = ", ".join(name.lower() for name, _ in KNOWN_GPUS)
    raise ValueError(f"--plan-for {gpu!r}: not a GPU vmae knows ({known}); give its dense peak in TFLOP/s instead")
