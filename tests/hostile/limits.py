"""Running a piece of vmae in a child process under an address-space limit, so that a memory bomb
that comes back fails the test with a MemoryError instead of taking the machine down."""

from __future__ import annotations

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
