"""Training metrics to JSONL (one object per step) and TensorBoard."""

from __future__ import annotations

import json
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter


def _drop_partial_line(path: Path) -> None:
    """A run stopped by a full disk may have written half a line: cut it, so the resumed run's lines
    (and the curves read from them) stay whole JSON."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(-1, 2)
        if f.read(1) == b"\n":
            return
        f.seek(0)
        f.truncate(f.read().rfind(b"\n") + 1)


class MetricsLog:
    def __init__(self, out: Path, enabled: bool = True):
        self.enabled, self.last = enabled, {}
        if enabled:
            out.mkdir(parents=True, exist_ok=True)
            _drop_partial_line(out / "metrics.jsonl")
            self.file = open(out / "metrics.jsonl", "a")  # noqa: SIM115 - held for the whole run
            self.tb = SummaryWriter(str(out / "tensorboard"))

    def write(self, step: int, values: dict) -> None:
        self.last = values
        if not self.enabled:
            return
        self.file.write(json.dumps({"step": step, **values}) + "\n")
        self.file.flush()
        for k, v in values.items():
            self.tb.add_scalar(k, v, step)

    def close(self) -> None:
        if self.enabled:
            self.file.close()
            self.tb.close()
