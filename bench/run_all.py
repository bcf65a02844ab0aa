"""Every benchmark in one go, summed up as one Markdown table.

    python bench/run_all.py [--quick] [--out bench/RESULTS.md] [--readme docs/performance.md] [--only NAME ...]

Runs each bench/*.py script (each measures vmae and its baseline in the same run, on the same
inputs), reads the RESULT lines they end with, and writes one table: figure, ours, baseline,
ratio, target, machine. With --readme it also puts the table into that page (the docs site's
Performance page), between the <!-- bench:start --> and <!-- bench:end --> lines. A script
that fails (a missing optional dependency, say) gets a row that says so, and the others still
run.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# cheapest first, so that a --quick run shows most of the table soonest
SCRIPTS = ("manifest_scale", "near_dup_quality", "images", "loader", "corpus_build", "mix_scale", "dedup_scale",
           "semantic_dedup", "quality_cost", "view_paging",
           "dual_masking", "umt_vs_mae", "vl_step", "feed")
RESULT = re.compile(r"^RESULT (\S+) (.*)$")
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def parse(line: str) -> dict | None:
    """'RESULT name ratio=1.2 target=0.9 figure="…" …' -> {"name": …, "ratio": …, …}."""
    m = RESULT.match(line.strip())
    if not m:
        return None
    fields = {"name": m.group(1)}
    for token in shlex.split(m.group(2)):
        key, eq, value = token.partition("=")
        if eq:
            fields[key] = value
    return fields


def machine() -> str:
    try:
        import torch

        gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU"
    except ImportError:
        gpu = ""
    return f"{platform.machine()}, {os.cpu_count()} cores{gpu}, Python {platform.python_version()}"


def run(name: str, quick: bool) -> tuple[list[dict], str]:
    """The script's RESULT rows, and why it produced none (or '')."""
    cmd = [sys.executable, str(HERE / f"{name}.py"), *(["--quick"] if quick else [])]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    print(f"{name}: exit {done.returncode} in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    rows = [r for r in map(parse, done.stdout.splitlines()) if r]
    if done.returncode != 0 or not rows:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return rows, f"did not finish: {tail[:160]}"
    return rows, ""


def table(results: dict[str, tuple[list[dict], str]], where: str, quick: bool) -> str:
    lines = [f"Measured with `python bench/run_all.py{' --quick' if quick else ''}` on {where}. Ratios are "
             "ours relative to the baseline measured in the same run (higher is better).", "",
             "| figure | ours | baseline | ratio | target | machine |", "|---|---|---|---|---|---|"]
    for name, (rows, problem) in results.items():
        for r in rows:
            ratio, target = float(r["ratio"]), float(r["target"])
            mark = "" if ratio >= target else " (below target)"
            lines.append(f"| {r.get('figure', r['name'])} | {r.get('ours', '')} | {r.get('baseline', '')} | "
                         f"{ratio:g}{mark} | {target:g} | {where} |")
        if problem:
            lines.append(f"| {name} | {problem} | | | | {where} |")
    return "\n".join(lines) + "\n"


def into_readme(readme: Path, text: str) -> None:
    doc = readme.read_text()
    if START not in doc or END not in doc:
        sys.exit(f"{readme} has no {START} ... {END} block to put the table in")
    head, rest = doc.split(START, 1)
    tmp = readme.with_suffix(".tmp")
    tmp.write_text(f"{head}{START}\n{text}{END}{rest.split(END, 1)[1]}")
    os.replace(tmp, readme)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="each script's short run (about a minute each)")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md", help="where the table is written")
    ap.add_argument("--readme", type=Path, help="also put the table into this page's bench block (docs/performance.md)")
    ap.add_argument("--only", nargs="*", choices=SCRIPTS, help="these scripts only")
    args = ap.parse_args()
    where = machine()
    results = {name: run(name, args.quick) for name in (args.only or SCRIPTS)}
    text = table(results, where, args.quick)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, args.out)
    if args.readme:
        into_readme(args.readme, text)
    print(text)
    failed = [n for n, (_, problem) in results.items() if problem]
    print(f"RESULT run_all ratio={(len(results) - len(failed)) / len(results):.2f} target=1.0")


if __name__ == "__main__":
    main()
