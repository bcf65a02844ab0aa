"""`vmae export`: a checkpoint's model as files that travel. Two formats:

- safetensors: the weights alone in vmae's (released VideoMAE V2) names, with a card of the
  model (kind, size, ViTConfig arguments, classes, clip geometry) in the file's header and as
  NAME.json beside it. vmae reads it back as it reads its own checkpoints.
- transformers: a folder that VideoMAEForVideoClassification, VideoMAEForPreTraining or
  VideoMAEModel (a model without a pixel decoder: a UMT student) load with from_pretrained:
  config.json, model.safetensors, the image and video processor configs (input size, ImageNet
  normalization, frames) and vmae.json (the card: what transformers has no field for).

Only the model travels: optimizer state, the data position, the objective's heads (UMT's
alignment heads) and the run's masking settings stay in the run's checkpoints.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
from pathlib import Path

import torch

from manifests.atomic import atomic_path
from trainer.checkpoint import CARD, CARD_FORMAT, HEADER_KEY, Checkpoint, hf
from trainer.checkpoint.disk import save_safetensors
from trainer.data.augment import IMAGENET_MEAN, IMAGENET_STD
from trainer.errors import CheckpointError
from trainer.models.families import ALIGNMENT_KEYS

FORMATS = ("transformers", "safetensors")
INSTALL_HF = "pip install 'vmae[hf]' (or pip install transformers)"


def card(ckpt: Checkpoint, model: str | None = None) -> dict:
    """What rebuilds the model around the weights, as plain JSON."""
    return {"format": CARD_FORMAT, "version": 1, "kind": ckpt.kind, "model_name": ckpt.model_name or model,
            "model_args": ckpt.vit_args(model), "num_classes": ckpt.classes, "labels": ckpt.labels,
            "family_args": ckpt.family_args,
            "data": ckpt.geometry(), "exported_from": ckpt.path.name}


def weights(ckpt: Checkpoint) -> dict[str, torch.Tensor]:
    """The model's weights only (a released UMT file's alignment heads dropped), each its own
    contiguous tensor: safetensors stores no views of shared memory."""
    return {k: v.detach().contiguous().clone() for k, v in ckpt.state.items() if not k.startswith(ALIGNMENT_KEYS)}


def export_safetensors(ckpt: Checkpoint, out: Path, model: str | None = None, overwrite: bool = False) -> Path:
    """OUT.safetensors (the card in its header) and OUT.json; returns the weights file."""
    out = Path(out) if Path(out).suffix == ".safetensors" else Path(f"{out}.safetensors")
    _refuse_existing(out, overwrite)
    _refuse_existing(out.with_suffix(".json"), overwrite)  # the card beside it is written too
    meta = card(ckpt, model)
    # the card first, then the weights: a failure leaves neither (a weights file alone would refuse the rerun)
    with atomic_path(out.with_suffix(".json")) as card_tmp:
        card_tmp.write_text(json.dumps(meta, indent=2) + "\n")
        save_safetensors(weights(ckpt), out, metadata={"format": "pt", HEADER_KEY: json.dumps(meta)})
    return out


def export_transformers(ckpt: Checkpoint, out: Path, model: str | None = None, overwrite: bool = False) -> Path:
    """A transformers folder at `out`, written beside it and renamed into place when whole."""
    try:
        from transformers import VideoMAEConfig, VideoMAEImageProcessor, VideoMAEVideoProcessor
    except ImportError as e:
        raise CheckpointError(f"exporting to transformers needs the transformers package: {INSTALL_HF}") from e
    if ckpt.family.hf_export:  # a family whose transformers form is more than one model
        module, _, name = ckpt.family.hf_export.partition(":")
        return getattr(importlib.import_module(module), name)(ckpt, out, model, overwrite)
    if ckpt.family.hf_architectures is None:
        raise CheckpointError(f"{ckpt.path} is a {ckpt.kind} model, which transformers has no class for; export it "
                              "with --format safetensors")
    out = Path(out)
    _refuse_existing(out, overwrite)
    meta = card(ckpt, model)
    args = {**meta["model_args"], **({} if ckpt.has_decoder else {"decoder_depth": 0})}
    config = VideoMAEConfig(**hf.config_fields(args, ckpt.family, ckpt.labels, ckpt.classes))
    config.architectures = [ckpt.family.hf_architecture(ckpt.has_decoder)]
    size = args["img_size"]
    # vmae's evaluation: short side resized to the input size, centre crop, ImageNet statistics
    pixels = {"size": {"shortest_edge": size}, "crop_size": {"height": size, "width": size},
              "image_mean": [round(v, 4) for v in IMAGENET_MEAN.tolist()],
              "image_std": [round(v, 4) for v in IMAGENET_STD.tolist()]}
    # UMT's segment sampling is what transformers' frame sampling does: one frame per equal part
    sampled = meta["data"].get("sampling") == "segments"
    tmp = out.parent / f".{out.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        config.save_pretrained(tmp)
        save_safetensors(hf.to_transformers(weights(ckpt), ckpt.family), tmp / "model.safetensors",
                         metadata={"format": "pt"})
        VideoMAEImageProcessor(**pixels).save_pretrained(tmp)
        VideoMAEVideoProcessor(**pixels, num_frames=args["frames"], do_sample_frames=sampled).save_pretrained(tmp)
        (tmp / CARD).write_text(json.dumps(meta, indent=2) + "\n")
        replace_folder(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _refuse_existing(out: Path, overwrite: bool) -> None:
    if out.exists() and not overwrite:
        raise CheckpointError(f"{out} exists; give another --out or --overwrite")


def replace_folder(new: Path, out: Path) -> None:
    """Move `new` to `out`; an older `out` is moved aside first and removed once `new` is there."""
    old = out.parent / f".{out.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        os.replace(out, old)
    os.replace(new, out)
    shutil.rmtree(old, ignore_errors=True)
