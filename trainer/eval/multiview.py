"""Scoring the multi-view test protocol: the model's softmax averaged over all views of a video,
then top-1/top-5, per-class accuracy and the confusion matrix."""

from __future__ import annotations

import numpy as np
import torch


def video_probabilities(view_logits: torch.Tensor) -> torch.Tensor:
    """(views, classes) logits of one video -> (classes,) softmax averaged over its views."""
    return view_logits.float().softmax(dim=-1).mean(dim=0)


def scores(probs: np.ndarray, labels: np.ndarray, classes: int) -> dict:
    """Top-1 and top-5 accuracy, per-class accuracy and the confusion matrix (rows: truth)."""
    top = np.argsort(-probs, axis=1)
    confusion = np.zeros((classes, classes), np.int64)
    np.add.at(confusion, (labels, top[:, 0]), 1)
    per_class = np.divide(confusion.diagonal(), confusion.sum(axis=1), out=np.full(classes, np.nan),
                          where=confusion.sum(axis=1) > 0)
    return {"top1": float((top[:, 0] == labels).mean()),
            "top5": float((top[:, : min(5, classes)] == labels[:, None]).any(axis=1).mean()),
            "per_class": per_class, "confusion": confusion}
