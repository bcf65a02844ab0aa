"""Filters on the clip's quality signals (manifests/quality.py): each keeps a clip unless its
signal is on the wrong side of the threshold in its options (the published default unless set)."""

from __future__ import annotations

from dataclasses import dataclass, field

from corpus.steps.filters.base import Filter, Verdict
from manifests.quality import SIGNALS


class SignalFilter(Filter):
    on = "clips"
    signal: str

    def check(self, clip: dict) -> Verdict:
        s = SIGNALS[self.signal]
        threshold = getattr(self.options, s.key)
        value = clip.get(s.column)
        return (s.reason, s.detail(value, threshold)) if s.fails(value, threshold) else None


def _threshold(signal: str):
    return field(default=SIGNALS[signal].default)


@dataclass(frozen=True)
class MotionOptions:
    min_motion: float = _threshold("motion")


class Motion(SignalFilter):
    name, signal, Options = "motion", "motion", MotionOptions


@dataclass(frozen=True)
class SharpnessOptions:
    min_sharpness: float = _threshold("sharpness")


class Sharpness(SignalFilter):
    name, signal, Options = "sharpness", "sharpness", SharpnessOptions


@dataclass(frozen=True)
class FrozenOptions:
    max_frozen: float = _threshold("frozen")


class Frozen(SignalFilter):
    name, signal, Options = "frozen", "frozen", FrozenOptions


@dataclass(frozen=True)
class BarsOptions:
    max_bars: float = _threshold("bars")


class Bars(SignalFilter):
    name, signal, Options = "bars", "bars", BarsOptions


@dataclass(frozen=True)
class OverlayOptions:
    max_overlay: float = _threshold("overlay")


class Overlay(SignalFilter):
    name, signal, Options = "overlay", "overlay", OverlayOptions
