"""The corpus viewer at Kinetics scale: page times of `vmae corpus view` on a 650k-row corpus.

    python bench/view_paging.py [--quick] [--rows N]

Plans a corpus of N synthetic Kinetics rows (650,000 by default, 50,000 with --quick; 400
classes, a tenth of them marked failed so that filters have something to find) with the real
`vmae corpus build --plan-only`, starts the viewer on it in this process, and asks it over HTTP
for pages a person would: the first page, a filtered one (failed rows of one class), one sorted
by duration, and the last page. The baseline is what answering each question took before the
viewer: reading the videos table with pandas and filtering it (best of 3, run in turns with the
viewer's page). Ratio = baseline / viewer, per question the median over 5 rounds; target ≥ 1
and every page under a second.
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from manifest_scale import write_csv  # noqa: E402  (bench/, this script's folder)

from corpus.build import build  # noqa: E402
from corpus.options import BuildOptions  # noqa: E402
from corpus.view.server import serve  # noqa: E402

TARGET, PAGE_SECONDS = 1.0, 1.0
QUESTIONS = {
    "first page": ("/c/0/rows", lambda v: v.iloc[:24]),
    "failed rows of one class": ("/c/0/rows?status=failed&label=class+007",
                                 lambda v: v[(v.status == "failed") & (v.label == "class 007")].iloc[:24]),
    "sorted by duration": ("/c/0/rows?sort=duration_s&desc=1",
                           lambda v: v.sort_values("duration_s", ascending=False).iloc[:24]),
    "last page": ("/c/0/rows?page=999999", lambda v: v.iloc[-24:]),
}


def plan(root: Path, rows: int) -> None:
    csv = root.parent / "kinetics-400_train.csv"
    write_csv(csv, rows)
    build(BuildOptions(source="kinetics", inputs=(str(csv),), out=str(root)), plan_only=True, progress=False)
    # a tenth of the rows failed, with a duration each, so that filters and sorts have work to do
    for part in sorted((root / "videos").rglob("part-*.parquet")):  # whatever generation folder holds them
        table = pq.read_table(part)
        n = table.num_rows
        status = pa.array(["failed" if i % 10 == 3 else "pending" for i in range(n)])
        table = table.set_column(table.schema.get_field_index("status"), "status", status)
        table = table.set_column(table.schema.get_field_index("duration_s"), "duration_s",
                                 pa.array([float((i * 37) % 600) for i in range(n)]))
        pq.write_table(table, part)


def fetch(address: str, path: str) -> float:
    start = time.perf_counter()
    conn = http.client.HTTPConnection(address, timeout=60)
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    if r.status != 200 or b"found; page" not in body:
        raise SystemExit(f"{path}: status {r.status}")
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="50,000 rows")
    ap.add_argument("--rows", type=int, default=None)
    args = ap.parse_args()
    rows = args.rows or (50_000 if args.quick else 650_000)
    with tempfile.TemporaryDirectory(prefix="vmae-view-") as tmp:
        root = Path(tmp) / "plan"
        plan(root, rows)
        start = time.perf_counter()
        server = serve([root], port=0, cache=Path(tmp) / "cache")
        load_s = time.perf_counter() - start
        threading.Thread(target=server.serve_forever, daemon=True).start()
        address = f"127.0.0.1:{server.server_address[1]}"
        ours = {q: [] for q in QUESTIONS}
        theirs = {q: [] for q in QUESTIONS}
        for _ in range(5):  # in turns: a noisy neighbour slows both alike
            for q, (path, answer) in QUESTIONS.items():
                ours[q].append(fetch(address, path))
                t = time.perf_counter()
                answer(pd.read_parquet(root / "videos"))
                theirs[q].append(time.perf_counter() - t)
        server.shutdown()
        server.server_close()
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"\n{rows:,} planned rows; the viewer loaded them in {load_s:.1f} s; medians of 5 rounds\n")
    print("| page | vmae corpus view | pandas: read the table, then filter | ratio | machine |")
    print("|---|---|---|---|---|")
    ratios, slowest = [], 0.0
    for q in QUESTIONS:
        a, b = statistics.median(ours[q]), statistics.median(theirs[q])
        spread = (max(ours[q]) - min(ours[q])) / a
        ratios.append(b / a)
        slowest = max(slowest, a)
        print(f"| {q} | {a * 1000:.0f} ms (spread {spread:.0%}) | {b * 1000:.0f} ms | {b / a:.1f} | {machine} |")
    ratio = min(ratios)
    print(f"\nslowest page {slowest * 1000:.0f} ms: {'under' if slowest < PAGE_SECONDS else 'OVER'} a second")
    print(f"RESULT view_paging ratio={ratio:.2f} target={TARGET} figure=\"viewer page at {rows:,} rows, slowest "
          f"question\" ours=\"{slowest * 1000:.0f} ms\" baseline=\"pandas read + filter\"")


if __name__ == "__main__":
    main()
