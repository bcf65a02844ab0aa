"""Training metrics to JSONL (one object per step) and TensorBoard."""

from __future__ import annotations

import json
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter


class MetricsLog:
    def __init__(self, out: Path, enabled: bool = True):
        self.enabled, self.last = enabled, {}
        if enabled:
            out.mkdir(parents=True, exist_ok=True)
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
