"""The `vmae` console script."""

from __future__ import annotations

import typer

from cli import corpus, demo, manifests

app = typer.Typer(help="vmae: build video corpora and train VideoMAE V2 / UMT models on them.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)
app.add_typer(corpus.app, name="corpus")
app.add_typer(manifests.app, name="manifests")
app.command(name="demo")(demo.demo)

if __name__ == "__main__":
    app()
