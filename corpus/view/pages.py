"""The viewer's HTML: pages rendered on the server from a corpus' tables, with forms and links
for filtering and paging (no script needed). Every value from a table is escaped."""

from __future__ import annotations

import html
import json
from urllib.parse import quote, urlencode

import numpy as np
import pandas as pd

from corpus.view.catalog import PAGE_SIZES, Corpus, Page, Query

STYLE = """
body{font:14px system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#24384f;color:#fff;padding:8px 16px;display:flex;gap:18px;align-items:baseline}
header a{color:#cfe0f5;text-decoration:none} header a.on{color:#fff;font-weight:600}
main{padding:12px 16px} h1{font-size:18px;margin:4px 0 12px}
form.filters{display:flex;flex-wrap:wrap;gap:8px;align-items:end;margin-bottom:10px}
form.filters label{display:flex;flex-direction:column;font-size:12px;color:#555}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:10px}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px;font-size:12px}
.card img{width:100%;height:auto;background:#eee;display:block;min-height:40px}
.card .key{font-family:monospace;word-break:break-all}
.dropped{border-color:#d9822b} .leak{border-color:#c23030;background:#fff5f5}
table.rows{border-collapse:collapse;width:100%;background:#fff} table.rows td,table.rows th{border:1px solid #ddd;
padding:3px 6px;font-size:12px;text-align:left;vertical-align:top} .pager{margin:10px 0;display:flex;gap:10px}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:8px;margin-bottom:10px} .muted{color:#777}
.num{text-align:right;font-variant-numeric:tabular-nums} video{max-width:100%;background:#000}
"""


def esc(value) -> str:
    if value is None or value is pd.NA or (isinstance(value, float | np.floating) and np.isnan(value)):
        return ""
    if isinstance(value, float | np.floating):
        return f"{value:.4g}"
    return html.escape(str(value))


def document(title: str, corpora: list[Corpus], current: Corpus | None, tab: str, body: str) -> str:
    tabs = ""
    if current is not None:
        names = ["clips", "rows", "dedup", "rejects"] + (["mix"] if current.mix else [])
        tabs = " ".join(f'<a class="{"on" if t == tab else ""}" href="/c/{current.index}/{t}">{t}</a>' for t in names)
    others = " ".join(f'<a href="/c/{c.index}/clips">{esc(c.name)}</a>' for c in corpora if c is not current)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)} · vmae</title>"
            f"<style>{STYLE}</style></head><body><header><a href='/'><b>vmae</b></a>"
            f"<span>{esc(current.name) if current else ''}</span>{tabs}<span class='muted'>{others}</span>"
            f"</header><main>{body}</main></body></html>")


def index(corpora: list[Corpus]) -> str:
    rows = []
    for c in corpora:
        n = c.counts
        rows.append(f"<tr><td><a href='/c/{c.index}/clips'>{esc(c.name)}</a></td><td>{esc(str(c.root))}</td>"
                    f"<td class=num>{n['rows']:,}</td><td class=num>{n['clips']:,}</td>"
                    f"<td class=num>{n['failed']:,}</td><td class=num>{n['dedup']:,}</td>"
                    f"<td class=num>{n['rejects']:,}</td>"
                    f"<td>{'mix' if c.mix else esc(c.doc.get('source'))}</td></tr>")
    body = ("<h1>Corpora</h1><table class=rows><tr><th>corpus</th><th>folder</th><th>rows</th><th>clips</th>"
            "<th>failed rows</th><th>dropped by dedup</th><th>rejected by filters</th><th>kind</th></tr>"
            + "".join(rows) + "</table>")
    return document("corpora", corpora, None, "", body)


def _filters(c: Corpus, q: Query) -> str:
    parts = []
    for column, values in c.choices(q.view).items():
        options = "".join(f"<option value='{esc(v)}' {'selected' if q.equal.get(column) == v else ''}>"
                          f"{esc(v)} ({n:,})</option>" for v, n in values)
        parts.append(f"<label>{column}<select name='{column}'><option value=''>any</option>{options}</select></label>")
    for column in q.view.ranges:
        if column in c.columns[q.view.name]:
            low, high = esc(q.low.get(column)), esc(q.high.get(column))
            parts.append(f"<label>{column} from<input name='min_{column}' size=5 value='{low}'></label>"
                         f"<label>to<input name='max_{column}' size=5 value='{high}'></label>")
    sorts = "".join(f"<option {'selected' if q.sort == s else ''}>{s}</option>" for s in q.view.sorts)
    parts.append(f"<label>sort<select name='sort'><option value=''>as stored</option>{sorts}</select></label>")
    checked = "checked" if q.descending else ""
    parts.append(f"<label>descending<input type=checkbox name=desc value=1 {checked}></label>")
    sizes = "".join(f"<option {'selected' if q.per_page == n else ''}>{n}</option>" for n in PAGE_SIZES)
    parts.append(f"<label>per page<select name='per_page'>{sizes}</select></label>")
    return f"<form class=filters method=get>{''.join(parts)}<button id=apply>apply</button></form>"


def _pager(q: Query, page: Page) -> str:
    at = min(q.page, page.pages)
    links = [f"<span id=total>{page.total:,}</span> found; page {at} of {page.pages:,}"]
    if at > 1:
        links.append(f"<a rel=prev href='?{urlencode(q.params(page=at - 1))}'>previous</a>")
    if at < page.pages:
        links.append(f"<a rel=next href='?{urlencode(q.params(page=at + 1))}'>next</a>")
    return f"<div class=pager>{' · '.join(links)}</div>"


def _card(c: Corpus, clip, extra: str = "") -> str:
    key = str(clip["clip_key"])
    reason = clip.get("reason")
    kind = "" if not isinstance(reason, str) else "leak" if reason.startswith("leak") else "dropped"
    scores = " ".join(f"{s} {esc(clip.get(s))}" for s in ("motion", "sharpness", "frozen", "bars", "overlay")
                      if clip.get(s) is not None and not pd.isna(clip.get(s)))
    about = " · ".join(part for part in (esc(clip.get("label")), esc(clip.get("source")), esc(clip.get("split")),
                                         f"{esc(clip.get('duration_s'))} s",
                                         f"{esc(clip.get('width'))}x{esc(clip.get('height'))}") if part)
    verdict = f"<div><b>{esc(reason)}</b> of {esc(clip.get('duplicate_of'))}</div>" if kind else ""
    return (f"<div class='card {kind}' data-key='{esc(key)}'><a href='/c/{c.index}/clip/{quote(key, safe='')}'>"
            f"<img loading=lazy alt='{esc(key)}' src='/c/{c.index}/sheet/{quote(key, safe='')}'></a>"
            f"<div class=key>{esc(key)}</div><div>{about}</div>"
            f"<div class=muted>{scores}</div>{verdict}{extra}</div>")


def clips_page(corpora: list[Corpus], c: Corpus, q: Query, page: Page) -> str:
    if c.plan_only:
        body = (f"<h1>{esc(c.name)}: a plan-only corpus</h1><p>No clips were built; its planned rows are under "
                f"<a href='/c/{c.index}/rows'>rows</a>.</p>")
        return document(c.name, corpora, c, "clips", body)
    cards = "".join(_card(c, clip) for _, clip in page.frame.iterrows())
    body = f"<h1>Clips of {esc(c.name)}</h1>{_filters(c, q)}{_pager(q, page)}<div class=grid id=clips>{cards}</div>"
    return document(c.name, corpora, c, "clips", body + _pager(q, page))


def rows_page(corpora: list[Corpus], c: Corpus, q: Query, page: Page) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("row", "video_id", "source", "label", "split", "status", "error_kind",
                                             "error", "url", "clips"))
    rows = "".join(
        f"<tr class='{esc(r['status'])}'><td class=num>{esc(r['row'])}</td><td>{esc(r['video_id'])}</td>"
        f"<td>{esc(r['source'])}</td><td>{esc(r['label'])}</td><td>{esc(r['split'])}</td><td>{esc(r['status'])}</td>"
        f"<td class=kind>{esc(r['error_kind'])}</td><td>{esc(r['error'])}</td><td>{esc(r['url'] or r['path'])}</td>"
        f"<td class=num>{esc(r['clips'])}</td></tr>" for _, r in page.frame.iterrows())
    body = (f"<h1>Input rows of {esc(c.name)}</h1>{_filters(c, q)}{_pager(q, page)}"
            f"<table class=rows id=rows><tr>{head}</tr>{rows}</table>{_pager(q, page)}")
    return document(c.name, corpora, c, "rows", body)


def dedup_page(corpora: list[Corpus], c: Corpus, q: Query, page: Page, find) -> str:
    """find(corpus folder, key) -> (Corpus, clip) of a kept copy when it is among the corpora shown."""
    pairs = []
    for _, d in page.frame.iterrows():
        mine = c.clip(str(d["clip_key"]))
        left = _card(c, mine) if mine is not None else f"<div class=card>{esc(d['clip_key'])} (planned video)</div>"
        other = find(d["duplicate_corpus"], d["duplicate_of"])
        measure = (f"distance {esc(d['distance'])} bits" if not pd.isna(d["distance"]) else
                   f"similarity {esc(d['similarity'])}" if not pd.isna(d["similarity"]) else esc(d["reason"]))
        note = f"<div class=muted>kept copy in {esc(d['duplicate_corpus'] or 'an id list')}; {measure}</div>"
        right = (_card(other[0], other[1], note) if other else
                 f"<div class=card><div class=key>{esc(d['duplicate_of'])}</div>{note}</div>")
        pairs.append(f"<div class='pair' data-reason='{esc(d['reason'])}'>{left}{right}</div>")
    body = (f"<h1>Dropped by dedup in {esc(c.name)}: each beside the copy that was kept</h1>{_filters(c, q)}"
            f"{_pager(q, page)}<div id=pairs>{''.join(pairs)}</div>{_pager(q, page)}")
    return document(c.name, corpora, c, "dedup", body)


def rejects_page(corpora: list[Corpus], c: Corpus, q: Query, page: Page) -> str:
    columns = ("clip_key", "video_id", "source", "start_s", "end_s", "filter", "reason", "detail")
    head = "".join(f"<th>{h}</th>" for h in columns) + "<th>contact sheet (the first few of each reason)</th>"
    rows = "".join("<tr>" + "".join(f"<td>{esc(r[h])}</td>" for h in columns)
                   + (f"<td><img loading=lazy src='/c/{c.index}/reject/{i}'></td>" if r["preview"] is not None
                      else "<td></td>") + "</tr>" for i, r in page.frame.iterrows())
    body = (f"<h1>Kept out by filters in {esc(c.name)}</h1>{_filters(c, q)}{_pager(q, page)}"
            f"<table class=rows id=rejects><tr>{head}</tr>{rows}</table>")
    return document(c.name, corpora, c, "rejects", body)


def mix_page(corpora: list[Corpus], c: Corpus) -> str:
    report = c.mix or {}
    keys = ("quota", "available", "dropped_by_dedup", "selected", "shortfall")
    rows = "".join(f"<tr><td>{esc(source)}</td>" + "".join(f"<td class=num>{esc(r.get(k))}</td>" for k in keys)
                   + f"<td>{esc(json.dumps(r.get('kept_out') or {}))}</td></tr>" for source, r in report.items()
                   if isinstance(r, dict))
    origin_rows = "".join(f"<tr><td>{esc(s)}</td><td>{esc(o)}</td><td class=num>{n:,}</td></tr>"
                          for s, o, n in c.origins())
    why = ("<p class=muted>available: the source's clips; dropped_by_dedup: copies dedup dropped; kept_out: "
           "clips the recipe's thresholds (and max_per_cluster) left out, by reason; shortfall: what the quota "
           "asked for beyond the usable clips (a recipe with repeat: true draws them again instead).</p>")
    body = (f"<h1>Recipe of the hybrid {esc(c.name)}</h1><table class=rows id=recipe><tr><th>source</th>"
            + "".join(f"<th>{k}</th>" for k in keys) + f"<th>kept_out</th></tr>{rows}</table>{why}"
            f"<h1>Where its clips came from</h1><table class=rows><tr><th>source</th><th>corpus</th><th>clips</th></tr>"
            f"{origin_rows}</table>")
    return document(c.name, corpora, c, "mix", body)


def clip_page(corpora: list[Corpus], c: Corpus, clip) -> str:
    key = quote(str(clip["clip_key"]), safe="")
    media = (f"<img id=still src='/c/{c.index}/media/{key}'>" if clip.get("media") == "image" else
             f"<video id=player src='/c/{c.index}/media/{key}' controls autoplay muted loop playsinline "
             f"width='{esc(clip.get('width'))}'></video>")
    fields = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in clip.items())
    body = (f"<h1>{esc(clip['clip_key'])}</h1>{media}<p><img src='/c/{c.index}/sheet/{key}'></p>"
            f"<table class=rows id=fields>{fields}</table>")
    return document(str(clip["clip_key"]), corpora, c, "clips", body)


def cannot_show(corpora: list[Corpus]) -> str:
    return document("cannot show", corpora, None, "", "<h1>This page cannot be shown</h1><p>Its table holds what "
                    "the viewer cannot show (the terminal running it says what).</p><p><a href='/'>All corpora</a></p>")


def not_found(corpora: list[Corpus]) -> str:
    return document("not found", corpora, None, "", "<h1>Not found</h1><p><a href='/'>All corpora</a></p>")

