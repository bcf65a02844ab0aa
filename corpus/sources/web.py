"""web: URL lists (CSV, TSV, JSONL, Parquet) fetched over HTTP(S). WebVid's columns
(videoid, contentUrl, name, …) work as they are."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import urlparse

from corpus.errors import InputError
from corpus.sources.base import FETCH_HTTP, Plan, Source, fail, mark_duplicates, meta_json, plan_row, unreadable
from corpus.sources.tabular import bad_utf8_columns, find_column, read_rows, repaired
from manifests.options import option

URL_COLUMNS = ("url", "contentUrl", "video_url")
ID_COLUMNS = ("videoid", "video_id", "id")
CAPTION_COLUMNS = ("caption", "name", "text", "title")
LABEL_COLUMNS = ("label",)
SPLIT_COLUMNS = ("split",)


def url_video_id(url: str) -> str:
    return "u" + hashlib.sha1(url.encode("utf-8", "surrogateescape")).hexdigest()[:16]


@dataclass(frozen=True)
class WebOptions:
    url_column: str | None = option(None, "Name of the URL column (default: one of the usual names).", output=True,
                                    flag=True)
    caption_column: str | None = option(None, "Name of the caption column (default: one of the usual names).",
                                        output=True, flag=True)


class WebSource(Source):
    """Also the base of sources whose lists are URLs with the same columns under other names."""

    name = "web"
    fetcher = FETCH_HTTP
    splits_shots = True
    Options = WebOptions
    URL_COLUMNS, ID_COLUMNS, CAPTION_COLUMNS = URL_COLUMNS, ID_COLUMNS, CAPTION_COLUMNS

    def _columns(self, path: str, columns: list[str]) -> dict[str, str | None]:
        wanted, caption = self.opts.url_column, self.opts.caption_column
        url_col = find_column(columns, (wanted,) if wanted else self.URL_COLUMNS)
        if url_col is None:
            expected = f"'{wanted}' (from --url-column)" if wanted else " or ".join(self.URL_COLUMNS)
            raise InputError(
                f"{path}: no URL column; expected a column named {expected}, found {columns}. "
                "Name the URL column with --url-column."
            )
        return {
            "url": url_col,
            "id": find_column(columns, self.ID_COLUMNS),
            "caption": find_column(columns, (caption,) if caption else self.CAPTION_COLUMNS),
            "label": find_column(columns, LABEL_COLUMNS),
            "split": find_column(columns, SPLIT_COLUMNS),
        }

    def _row(self, path: str, line: int, values: dict, cols: dict) -> dict:
        def get(name):
            col = cols[name]
            v = values.get(col) if col else None
            return None if v is None or (isinstance(v, str) and not v.strip()) else v

        bad = bad_utf8_columns(values)
        clean = {k: repaired(v) if isinstance(v, str) else v for k, v in values.items()}
        url = get("url")
        url = repaired(str(url)).strip() if url is not None else None
        vid = get("id")
        video_id = repaired(str(vid)).strip() if vid is not None else (url_video_id(url) if url else f"line{line}")
        carried = {k: v for k, v in clean.items() if k not in {c for c in cols.values() if c}}
        caption = clean.get(cols["caption"]) if get("caption") is not None else None
        structured = isinstance(caption, dict | list)  # a JSONL or Parquet cell can hold anything
        row = plan_row(
            self.name, video_id, url=url,
            caption=None if caption is None or structured else str(caption),
            label=str(clean[cols["label"]]) if cols["label"] and get("label") is not None else None,
            split=str(clean[cols["split"]]) if cols["split"] and get("split") is not None else None,
            meta=meta_json({"input": path, "line": line, **carried}),
        )
        if bad:
            return fail(row, "bad_row", f"{path}:{line}: column(s) {bad} are not valid UTF-8 text")
        if structured:
            return fail(row, "bad_row", f"{path}:{line}: the caption in column '{cols['caption']}' is a "
                        f"{type(caption).__name__}, not text")
        if not url:
            return fail(row, "bad_row", f"{path}:{line}: empty URL in column '{cols['url']}'")
        scheme = urlparse(url).scheme.lower()
        if scheme not in ("http", "https"):
            return fail(row, "unsupported_scheme",
                        f"{path}:{line}: URL scheme '{scheme or '(none)'}' is not supported; "
                        "the web source fetches http:// and https:// URLs only")
        return row

    def list_rows(self, path: str) -> list[dict]:
        """The plan rows of one URL list."""
        columns, records = read_rows(path)
        cols = self._columns(path, columns)
        return [unreadable(self.name, path, rec.line, rec.error) if rec.values is None else
                self._row(path, rec.line, rec.values, cols) for rec in records]

    def plan(self) -> Plan:
        return Plan(list(mark_duplicates([r for path in self.options.inputs for r in self.list_rows(path)])))
