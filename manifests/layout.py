"""Where things live inside a corpus folder (DESIGN.md §2)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from manifests.errors import ManifestError


@dataclass(frozen=True)
class CorpusLayout:
    root: Path

    @classmethod
    def at(cls, root: str | Path) -> CorpusLayout:
        return cls(Path(root))

    @property
    def build_json(self) -> Path:
        return self.root / "build.json"

    def build_doc(self) -> dict:
        """What build.json records ({} before a build or mix has written it). A folder may come
        from elsewhere: a file that is not a JSON object is a ManifestError naming it."""
        if not self.build_json.is_file():
            return {}
        try:
            doc = json.loads(self.build_json.read_text(encoding="utf-8", errors="replace"))
        except (ValueError, RecursionError) as e:
            why = "nested too deeply" if isinstance(e, RecursionError) else f"not JSON: {e}"
            raise ManifestError(f"{self.build_json} is {why}; a corpus folder's build.json is the object "
                                "`vmae corpus build` or `vmae corpus mix` writes") from None
        if not isinstance(doc, dict):
            raise ManifestError(f"{self.build_json} holds a JSON {type(doc).__name__}, not the object "
                                "`vmae corpus build` or `vmae corpus mix` writes")
        return doc

    @property
    def labels_txt(self) -> Path:
        return self.root / "labels.txt"

    def table(self, name: str) -> Path:
        return self.root / name

    def part(self, table: str, unit: str) -> Path:
        return self.root / table / f"part-{unit}.parquet"

    @property
    def tars(self) -> Path:
        return self.root / "tars"

    @property
    def done(self) -> Path:
        return self.root / "done"

    def marker(self, name: str) -> Path:
        return self.done / name

    @property
    def work(self) -> Path:
        """Scratch space for downloads and encoded clips of units in flight; hidden so that
        nothing reading the corpus sees it."""
        return self.root / ".work"

    def is_corpus(self) -> bool:
        return self.build_json.is_file()
