"""What a run's settings come from besides the command line: the YAML file, and what the --init
checkpoint says of itself (its size and clip geometry). The files are read here, so that building
the config (config.py) reads none."""

from __future__ import annotations

from pathlib import Path

from manifests.options import read_settings_file
from trainer import checkpoint
from trainer.config import build_config
from trainer.errors import CheckpointError


def started_from(init: str | None) -> dict:
    """The settings an --init checkpoint brings: its size's name and its clips' geometry. Its file is
    mapped, not read; one that cannot be read brings nothing here (the stage reports it)."""
    if not init:
        return {}
    try:
        ckpt = checkpoint.read(init, lazy=True)
    except CheckpointError:
        return {}
    return {"data": ckpt.geometry(), **({"model": ckpt.model_name} if ckpt.model_name else {})}


def configure(cls: type, options: dict, from_file: str | Path | dict | None = None):
    """A `cls` config from command-line options over a YAML file (a path, or its already-read
    contents) over what the --init checkpoint says over the presets and defaults."""
    doc = from_file if isinstance(from_file, dict) else read_settings_file(from_file)
    init = options.get("init") or doc.get("init")
    return build_config(cls, options, doc, started_from(init))
