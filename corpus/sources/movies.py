"""movies: local long videos (files or folders), cut into fixed windows, AVA-style. Nothing is
downloaded; the files are read where they lie."""

from __future__ import annotations

from pathlib import Path

from corpus.errors import InputError
from corpus.sources.base import FETCH_LOCAL, Plan, Source, mark_duplicates, meta_json, plan_row

VIDEO_SUFFIXES = {".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".ts"}
DEFAULT_CLIP_SECONDS = 10.0


def video_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    raise InputError(f"{path}: no such file or folder")


class MoviesSource(Source):
    name = "movies"
    fetcher = FETCH_LOCAL
    splits_shots = True

    @classmethod
    def presets(cls, chosen: dict) -> list[dict]:
        """A movie is cut into windows of DEFAULT_CLIP_SECONDS unless windows or shots are asked for."""
        clip = chosen.get("clip", {})
        if clip.get("clip_seconds") is None and clip.get("window_frames") is None and clip.get("split") != "shots":
            return [{"clip": {"clip_seconds": DEFAULT_CLIP_SECONDS}}]
        return []

    def plan(self) -> Plan:
        rows = []
        for given in self.options.inputs:
            base = Path(given)
            for f in video_files(base):
                rel = f.relative_to(base) if base.is_dir() else Path(f.name)
                video_id = rel.with_suffix("").as_posix()
                rows.append(plan_row(self.name, video_id, path=str(f.resolve()),
                                     meta=meta_json({"input": given})))
        return Plan(list(mark_duplicates(rows)))
