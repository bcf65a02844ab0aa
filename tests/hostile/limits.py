"""Running a piece of vmae in a child process under an address-space limit, so that a memory bomb
that comes back fails the test with a MemoryError instead of taking the machine down."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_limited(code: str, limit_gb: float, timeout: float = 120) -> subprocess.CompletedProcess:
    """python -c code in a child limited to `limit_gb` GiB of address space (importing torch takes
    about 3.3 GiB of it; one malloc arena per thread keeps the rest predictable)."""
    limit = int(limit_gb * 1024**3)

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    env = {**os.environ, "MALLOC_ARENA_MAX": "2", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], preexec_fn=cap, env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def image_build_growth(tmp_path: Path, warm_row: str, row: str, limit_gb: float, image: dict | None = None
                       ) -> tuple[dict, int]:
    """An images build of the list row `row` (caption<TAB>url) in a child under `limit_gb`, after one
    of `warm_row` (imports, buffers): its first clips/ row (videos/ when it made none), as text,
    and how many MB it grew the child's peak."""
    for name, text in (("warm", warm_row), ("target", row)):
        (tmp_path / f"{name}.tsv").write_text(text)
    code = ("import json, resource\nfrom tests.helpers import build_corpus\nimport pandas as pd\n"
            "peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024\n"
            f"build_corpus({str(tmp_path / 'w')!r}, 'images', [{str(tmp_path / 'warm.tsv')!r}])\n"
            "before = peak()\n"
            f"build_corpus({str(tmp_path / 'b')!r}, 'images', [{str(tmp_path / 'target.tsv')!r}], image={image!r})\n"
            f"clips = pd.read_parquet({str(tmp_path / 'b' / 'clips')!r})\n"
            f"row = (clips if len(clips) else pd.read_parquet({str(tmp_path / 'b' / 'videos')!r})).iloc[0]\n"
            "print(json.dumps({k: str(v) for k, v in row.items()}))\n"
            "print(peak() - before)")
    run = run_limited(code, limit_gb)
    assert run.returncode == 0, run.stderr[-2000:]
    first, grown = run.stdout.strip().splitlines()[-2:]
    return json.loads(first), int(grown)
