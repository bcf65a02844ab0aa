"""`vmae predict`: classify video files with the multi-view protocol; a file that cannot be
decoded gets an error entry and the others are still classified."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch

from manifests.labels.label_list import read_label_list
from trainer import checkpoint
from trainer.data.augment import to_model_input
from trainer.data.decode import DecodeError
from trainer.data.views import crop_views, view_indices
from trainer.errors import CheckpointError
from trainer.eval.evaluate import data_config_of
from trainer.eval.multiview import video_probabilities


def predict_files(videos: list[Path], ckpt_path: str, topk: int = 5, clips: int = 5, crops: int = 3,
                  labels: Path | None = None, model: str | None = None, decoder: str | None = None,
                  decode_device: str | None = None) -> Iterator[dict]:
    """{"video", "top": [{"class", "id", "prob"}]} per file, or {"video", "error"}. Problems with
    the checkpoint raise before any file is read."""
    ckpt = checkpoint.read(ckpt_path)
    clf = checkpoint.classifier(ckpt, model)
    names = read_label_list(labels) if labels else ckpt.labels or [str(i) for i in range(ckpt.classes)]
    if len(names) != clf.num_classes:
        raise CheckpointError(f"--labels names {len(names)} classes, {ckpt.path} has {clf.num_classes}")
    data = data_config_of(ckpt, decoder=decoder, decode_device=decode_device)
    for path in videos:
        try:
            video = data.open_video(Path(path))
            frames = video.get(view_indices(video.frames, data, clips))
        except DecodeError as e:
            yield {"video": str(path),
                   "error": f"cannot decode {path}: {e}" if Path(path).is_file() else f"{path} does not exist"}
            continue
        with torch.inference_mode():
            probs = video_probabilities(clf(to_model_input(crop_views(frames, data.img_size, crops))[0]))
        top = torch.topk(probs, min(topk, len(names)))
        yield {"video": str(path), "top": [{"class": names[int(i)], "id": int(i), "prob": round(float(p), 4)}
                                            for p, i in zip(top.values, top.indices, strict=True)]}
