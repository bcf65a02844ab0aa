"""Kinetics class names across versions.

Between Kinetics-400, -600 and -700 some classes were renamed (a spelling fix, a narrower
wording) or merged with a differently named class of a later version. VideoMAE V2's
Kinetics-710 treats each such pair as one class under the later name; this is that table
(older name → the name used from then on), so that K400 'dying hair' and K600 'dyeing hair'
are one class in a merged corpus.
"""

from __future__ import annotations

import re
from pathlib import Path

RENAMES: dict[str, str] = {
    # spelling and capitalization
    "dying hair": "dyeing hair",
    "passing american football (not in game)": "passing American football (not in game)",
    # K600/K700 made the wording more specific
    "changing wheel": "changing wheel (not on bike)",
    "garbage collecting": "person collecting garbage",
    "balloon blowing": "inflating balloons",
    "tying tie": "tying necktie",
    "making bed": "making the bed",
    "opening bottle": "opening bottle (not wine)",
    "hugging": "hugging (not baby)",
    "throwing ball": "throwing ball (not baseball or American football)",
    "cooking sausages": "cooking sausages (not on barbeque)",
    # merged with the later class that covers the same clips (the K710 convention)
    "picking fruit": "picking apples",
    "skiing (not slalom or crosscountry)": "skiing mono",
    "drinking": "sipping cup",
    "sniffing": "smelling feet",
}


def canonical(label: str) -> str:
    """The name a class has in a merged (K710) corpus."""
    return RENAMES.get(label, label)


def version_of(path: str | Path) -> int | None:
    """400, 600 or 700 from an annotation file's name (kinetics-400_val.csv, k600_train.csv,
    kinetics700_2020_val.csv); None when the name does not say."""
    m = re.search(r"(?<![0-9])(400|600|700)(?![0-9])", Path(path).name)
    return int(m.group(1)) if m else None
