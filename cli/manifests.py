"""`vmae manifests …`: check corpus folders against the contract."""

from __future__ import annotations

import typer

from cli.common import CorpusDir, say

app = typer.Typer(help="Check corpus folders against the manifest contract.", no_args_is_help=True)


@app.command()
def validate(corpus: CorpusDir) -> None:
    """Check schemas, every input row once, every clip in exactly one shard, tar members against
    clips/, and shard sizes and sha256 against shards/. Exits 1 when anything is wrong."""
    from manifests.validate import validate as run_validate

    report = run_validate(corpus)
    counts = ", ".join(f"{v} {k}" for k, v in report.checked.items())
    if report.ok:
        typer.secho(f"ok: {corpus} ({counts})", fg="green")
        return
    typer.secho(f"{corpus}: {len(report.problems)} problem(s) ({counts})", fg="red", err=True)
    for p in report.problems:
        say(f"  - {p}", err=True)
    raise typer.Exit(1)
