"""images: image-text pairs, one image sample per image with all its captions.

- Lists of URLs: CSV, TSV (with a header, or without one as CC3M ships `caption<TAB>url` and
  CC12M `url<TAB>caption`), JSONL, Parquet; the url and caption columns are found by name
  (url, image_url, URL; caption, text, TEXT) or given with url_column / caption_column.
- Local annotation files (.json) over a folder of images: COCO captions
  (`{"images": [{"id", "file_name"}], "annotations": [{"image_id", "caption"}]}`) and the layout
  UMT and VINDLU use (`[{"image": "path", "caption": "..." or [...]}]`, an image listed once or
  once per caption). Captions of one image are gathered into one row.
Images are fetched over HTTP with the web source's limits and retries, or read where they lie."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from corpus.errors import InputError
from corpus.sources.base import Plan, fail, file_in, mark_duplicates, meta_json, plan_row
from corpus.sources.retrieval import SPLITS, from_name
from corpus.sources.tabular import read_json
from corpus.sources.web import WebOptions, WebSource
from manifests.options import option

MAX_FILE_BYTES = 1024**3  # COCO's largest captions file is ~90 MB


@dataclass(frozen=True)
class ImagesOptions(WebOptions):
    images: str | None = option(None, "Folder of an annotation file's images (default: the file's own folder).",
                                output=True)
    split: str | None = option(None, "The rows' split (default: from the annotation file's name: train, val, "
                                      "test).", output=True)


class ImagesSource(WebSource):
    """URL lists are read as the web source reads them, under the column names image lists use."""

    name = "images"
    media = "image"
    splits_shots = False
    Options = ImagesOptions
    URL_COLUMNS = ("url", "image_url", "URL", "img_url")
    ID_COLUMNS = ("id", "image_id", "key")
    CAPTION_COLUMNS = ("caption", "text", "TEXT", "alt_text", "title")

    def plan(self) -> Plan:
        rows: list[dict] = []
        for name in self.options.inputs:
            rows += self._annotations(Path(name)) if name.lower().endswith(".json") else self.list_rows(name)
        return Plan(list(mark_duplicates(rows)))

    # --- annotation files over a local folder ---

    def _annotations(self, path: Path) -> list[dict]:
        folder = Path(self.opts.images) if self.opts.images else path.parent
        split = self.opts.split or from_name(path.stem, SPLITS)
        entries = read_json(path, MAX_FILE_BYTES)
        gathered: dict[str, list] = {}  # image path -> [first entry number, captions, problem]
        for n, (image, captions, problem) in enumerate(_entries(entries, path)):
            slot = gathered.setdefault(image or f"entry{n}", [n, [], None])
            slot[1] += captions
            slot[2] = slot[2] or problem
        rows = []
        for image, (n, captions, problem) in gathered.items():
            file, outside = file_in(folder, image, "images")
            named = re.sub(r"\.[A-Za-z0-9]+$", "", image) if outside is None else f"entry{n}"
            row = plan_row(self.name, named, split=split, captions=captions or None,
                           meta=meta_json({"input": str(path), "entry": n}))
            if problem or outside:
                fail(row, "bad_row", f"{path}[{n}]: {problem or outside}")
            else:
                row["path"] = str(file)
            rows.append(row)
        return rows


def _entries(doc, path: Path):
    """(image path, captions, problem) per entry of a COCO-captions or image/caption list file."""
    if isinstance(doc, dict) and isinstance(doc.get("images"), list) and isinstance(doc.get("annotations"), list):
        names = {im.get("id"): im.get("file_name") for im in doc["images"] if isinstance(im, dict)}
        by_image: dict = {i: [] for i in names}
        for a in doc["annotations"]:
            if isinstance(a, dict) and a.get("image_id") in by_image and isinstance(a.get("caption"), str):
                by_image[a["image_id"]].append(a["caption"].strip())
        for image_id, file_name in names.items():
            ok = isinstance(file_name, str) and file_name.strip()
            yield (file_name.strip() if ok else None, [c for c in by_image[image_id] if c],
                   None if ok else f"image {image_id!r} has no file_name")
        return
    if not isinstance(doc, list):
        raise InputError(f'{path}: expected COCO captions ({{"images", "annotations"}}) or a list of '
                         f'{{"image": ..., "caption": ...}} objects, found a {type(doc).__name__}')
    for entry in doc:
        image = entry.get("image") if isinstance(entry, dict) else None
        caption = entry.get("caption") if isinstance(entry, dict) else None
        texts = [caption] if isinstance(caption, str) else caption
        if not isinstance(image, str) or not image.strip():
            yield None, [], 'no "image" path'
        elif not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            yield image.strip(), [], '"caption" must be text or a list of texts'
        else:
            yield image.strip(), [t.strip() for t in texts if t.strip()], None
