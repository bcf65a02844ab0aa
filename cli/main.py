"""The `vmae` console script."""

from __future__ import annotations

import typer

from cli import bench, corpus, demo, doctor, evaluate, export, manifests, train

app = typer.Typer(help="vmae: build video corpora and train VideoMAE V2 / UMT models on them.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)
app.add_typer(corpus.app, name="corpus")
app.add_typer(manifests.app, name="manifests")
app.add_typer(train.app, name="train")
app.command(name="eval")(evaluate.eval_command)
app.command(name="predict")(evaluate.predict)
app.command(name="embed")(evaluate.embed)
app.command(name="search")(evaluate.search)
app.command(name="export")(export.export)
app.command(name="demo")(demo.demo)
app.command(name="doctor")(doctor.doctor)
app.command(name="bench")(bench.bench)

if __name__ == "__main__":
    app()
