"""Filters on the clip's quality signals (manifests/quality.py): each keeps a clip unless its
signal is on the wrong side of the threshold in its options (the published default unless set).
One filter per signal, each with an Options class of one field named as recipes name it
(min_motion, max_frozen, ...)."""

from __future__ import annotations

from dataclasses import make_dataclass

from corpus.steps.filters.base import Filter, Verdict
from manifests.options import option
from manifests.quality import SIGNALS


class SignalFilter(Filter):
    on = "clips"
    signal: str

    def check(self, clip: dict) -> Verdict:
        s = SIGNALS[self.signal]
        threshold = getattr(self.options, s.key)
        value = clip.get(s.column)
        return (s.reason, s.detail(value, threshold)) if s.fails(value, threshold) else None


def signal_filter(signal: str) -> type[SignalFilter]:
    """The filter of one signal, with its Options dataclass."""
    s = SIGNALS[signal]
    side = "below" if s.bound == "min" else "above"
    help_text = f"Clips whose {s.column} is {side} this are kept out as {s.reason}: {s.meaning}."
    options = make_dataclass(f"{signal.title()}Options", [(s.key, float, option(s.default, help_text, output=True))],
                             frozen=True)
    return type(signal.title(), (SignalFilter,), {"name": signal, "signal": signal, "Options": options})


Motion, Sharpness, Frozen, Bars, Overlay = (signal_filter(s) for s in ("motion", "sharpness", "frozen", "bars",
                                                                        "overlay"))
