"""`vmae export`: a checkpoint's model for transformers, or as safetensors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import fail, machine_faults


def _format(value: str) -> str:
    if value not in ("transformers", "safetensors"):
        raise typer.BadParameter(f"unknown format {value!r}; choose transformers or safetensors")
    return value


def export(
    ckpt: Annotated[str, typer.Argument(help="Checkpoint file, run folder (its newest checkpoint), transformers "
                                             "folder or released file.")],
    out: Annotated[Path, typer.Option(help="transformers: the folder to write; safetensors: the file to write "
                                           "(NAME.safetensors, and NAME.json beside it).")],
    format: Annotated[str, typer.Option(help="transformers (a folder from_pretrained loads) or safetensors (the "
                                             "weights in vmae's names and a JSON of the model).",
                                        callback=_format)] = "transformers",
    model: Annotated[str | None, typer.Option(help="Model size, for a released file whose shape matches no "
                                                   "registered size.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out.")] = False,
) -> None:
    """Write a checkpoint's model so that it travels: a folder that Hugging Face transformers
    loads (VideoMAEForVideoClassification, VideoMAEForPreTraining, or VideoMAEModel for a model
    without a pixel decoder), or a .safetensors file. vmae's --init and --ckpt read both back."""
    from trainer import checkpoint
    from trainer.checkpoint.export import export_safetensors, export_transformers
    from trainer.errors import USER_ERRORS

    try:
        source = checkpoint.read(ckpt)
        write = export_transformers if format == "transformers" else export_safetensors
        with machine_faults("export", out):
            written = write(source, out, model, overwrite)
    except USER_ERRORS as e:
        raise fail(e) from e
    what = f"{source.kind} {source.model_name or model or ''}".strip()
    if format == "transformers" and source.family.hf_export:
        typer.echo(f"{what} → {written}/ (video/: VideoMAEModel, text/: BertModel, heads.safetensors: the shared "
                   "space's projections; docs/transformers.md says how to use them)")
    elif format == "transformers":
        cls = source.family.hf_architecture(source.has_decoder)
        typer.echo(f"{what} → {written}/ (load it with transformers: {cls}.from_pretrained('{written}'))")
    else:
        typer.echo(f"{what} → {written} and {written.with_suffix('.json')}")
