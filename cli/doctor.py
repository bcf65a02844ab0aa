"""`vmae doctor`: what works on this machine and what to do about what does not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

_MARKS = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}


def doctor(
    folder: Annotated[Path, typer.Option(help="Folder whose free space to report (where corpora will go).")
                      ] = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check ffmpeg and its encoders, yt-dlp with its JavaScript runtime and EJS scripts, torch,
    CUDA and the GPUs, torchcodec (CPU and CUDA decoding) and decord, Pillow, Ray, transformers,
    and free space. Exits 1 when something a command needs is missing."""
    from corpus.doctor import diagnose

    checks = diagnose(folder)
    if as_json:
        typer.echo(json.dumps([c.to_dict() for c in checks], indent=2))
    else:
        for c in checks:
            typer.echo(f"{_MARKS[c.state]}  {c.name:<20} {c.detail}")
            if c.fix:
                typer.echo(f"{'':6}{'':<20} → {c.fix}" + (f" (needed by {c.needed_by})" if c.needed_by else ""))
    failed = [c.name for c in checks if c.state == "fail"]
    if failed:
        if not as_json:
            typer.secho(f"missing what vmae needs: {', '.join(failed)}", fg="red", err=True)
        raise typer.Exit(1)
