"""The demo's data: synthetic videos whose class only motion tells (scenes scrolling in one of six
directions), built into corpora through the web source (served on 127.0.0.1) and the movies
source, the way a user builds real ones."""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from pathlib import Path

import ffmpeg
import numpy as np

from cli.corpus import print_summary
from corpus.build import build
from corpus.config import configure_build
from corpus.localserve import serve_folder
from corpus.synthetic import DIRECTIONS, make_video

SIZE = {"width": 112, "height": 84, "fps": 25}
SCROLL = 0.02  # share of the picture per frame
TARGET_CLASSES = ["moving right", "moving left", "moving down", "moving up"]  # the stage-3 task


@dataclass(frozen=True)
class Clip:
    name: str  # file stem
    seed: int
    direction: str | None  # None: label withheld (unlabeled corpora)
    scroll_as: str  # the direction it actually scrolls


def _make(path: Path, seed: int, direction: str, seconds: float = 3.0) -> Path:
    if not path.exists():
        dx, dy = DIRECTIONS[direction]
        make_video(path, pattern=f"scene{seed}", seconds=seconds, scroll=(dx * SCROLL, dy * SCROLL), extra_boxes=12,
                   crf=26, **SIZE)
    return path


def plan(per_class: dict[str, int]) -> dict[str, list[Clip]]:
    """Which videos go where. Seeds never repeat across sets, so test scenes are unseen."""
    rng = np.random.default_rng(0)
    sets: dict[str, list[Clip]] = {}
    seed = 0
    for name, count in per_class.items():
        classes = TARGET_CLASSES if name.startswith("target") else list(DIRECTIONS)
        clips = []
        for k in range(count * len(classes)):
            direction = classes[k % len(classes)] if name != "unlabeled" else str(rng.choice(list(DIRECTIONS)))
            clips.append(Clip(f"{name}_{k:04d}", 10_000 + seed, None if name == "unlabeled" else direction, direction))
            seed += 1
        sets[name] = clips
    return sets


# The copies planted in the unlabeled list, and the dedup reason each should be dropped for.
PLANTED = {"unlabeled_copy": "exact", "unlabeled_reencoded": "near"}


def planted_found(web: Path, original: str) -> list[str]:
    """What dedup decided for each planted copy, against what was planted."""
    import pandas as pd

    decided = pd.read_parquet(web / "dedup").set_index("video_id")
    lines = []
    for name, reason in PLANTED.items():
        row = decided.loc[name]
        found = not row.keep and row.reason == reason and f"_{original}_" in str(row.duplicate_of)
        what = "kept" if row.keep else \
            f"dropped as {row.reason}, copy of {row.duplicate_of} ({int(row.distance)} bits)"
        lines.append(f"planted {name} ({reason} copy of {original}): {what} -> {'FOUND' if found else 'MISSED'}")
    return lines


def make_videos(root: Path, sets: dict[str, list[Clip]]) -> None:
    for clips in sets.values():
        for c in clips:
            _make(root / "web" / f"{c.name}.mp4", c.seed, c.scroll_as)
    # planted duplicates for dedup to find: an exact copy and a re-encoded copy of a labeled video
    # inside the unlabeled list
    original = root / "web" / f"{sets['pool_a'][0].name}.mp4"
    exact, small = (root / "web" / f"{name}.mp4" for name in PLANTED)
    if not exact.exists():
        shutil.copy(original, exact)
    if not small.exists():
        ffmpeg.input(str(original)).output(str(small), vf="scale=96:72", crf=34, vcodec="libx264",
                                           pix_fmt="yuv420p").overwrite_output().run(quiet=True)
    for k, direction in enumerate(("moving left", "moving up", "moving down-right")):  # long "films"
        _make(root / "movies" / f"film_{k}.mp4", 90_000 + k, direction, seconds=15.0)


def build_web(out: Path, name: str, clips: list[Clip], videos: Path, workers: int, extra: list[str] = ()) -> dict:
    """A WebVid-style URL list (label column when the clips have labels) → `vmae corpus build`."""
    labeled = any(c.direction for c in clips)
    with serve_folder(videos / "web") as base:
        url_list = out.parent / f"{name}.csv"
        url_list.parent.mkdir(parents=True, exist_ok=True)
        with open(url_list, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["videoid", "contentUrl", "name"] + (["label"] if labeled else []))
            for c in clips:
                w.writerow([c.name, f"{base}/{c.name}.mp4", f"a synthetic scene ({c.scroll_as})"]
                           + ([c.direction] if labeled else []))
            for stem in extra:
                w.writerow([stem, f"{base}/{stem}.mp4", "a planted copy"] + ([""] if labeled else []))
        summary = build(configure_build({"source": "web", "inputs": [url_list], "out": out, "workers": workers,
                                         "shard_bytes": 1_000_000, "unit_size": 32, "short_side": 64}), progress=False)
    print_summary(summary)
    return summary


def build_movies(out: Path, videos: Path, workers: int) -> dict:
    summary = build(configure_build({"source": "movies", "inputs": [videos / "movies"], "out": out, "workers": workers,
                                     "shard_bytes": 1_000_000, "short_side": 64, "clip_seconds": 3.0}), progress=False)
    print_summary(summary)
    return summary


# The video-language part: scenes whose captions say what a person sees, their colour and the
# direction they move in (12 captions); 8 training and 1 held-out scene for each.
COLOURS = {"red": (0xD03828, 0x801810), "green": (0x38C048, 0x106020), "blue": (0x3858D8, 0x102070)}
CAPTIONED_SETS = {"captioned_train": 8, "captioned_test": 1}


@dataclass(frozen=True)
class CaptionedClip:
    name: str
    seed: int
    colour: str
    direction: str

    @property
    def caption(self) -> str:
        return f"a {self.colour} scene {self.direction}"


def captioned_plan(per_pair: dict[str, int]) -> dict[str, list[CaptionedClip]]:
    sets, seed = {}, 20_000
    for name, count in per_pair.items():
        pairs = [(c, d) for c in COLOURS for d in TARGET_CLASSES] * count
        sets[name] = [CaptionedClip(f"{name}_{k:04d}", seed + k, c, d) for k, (c, d) in enumerate(pairs)]
        seed += len(pairs)
    return sets


def make_captioned(root: Path, sets: dict[str, list[CaptionedClip]]) -> None:
    for clips in sets.values():
        for c in clips:
            path = root / "captioned" / f"{c.name}.mp4"
            if not path.exists():
                dx, dy = DIRECTIONS[c.direction]
                make_video(path, pattern=f"scene{c.seed}", seconds=2.0, scroll=(dx * SCROLL, dy * SCROLL),
                           extra_boxes=6, crf=26, palette=COLOURS[c.colour], **SIZE)


def build_captioned(out: Path, name: str, clips: list[CaptionedClip], videos: Path, workers: int) -> dict:
    """A WebVid-style URL list whose name column is the caption → `vmae corpus build`."""
    with serve_folder(videos / "captioned") as base:
        url_list = out.parent / f"{name}.csv"
        with open(url_list, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["videoid", "contentUrl", "name"])
            w.writerows([c.name, f"{base}/{c.name}.mp4", c.caption] for c in clips)
        summary = build(configure_build({"source": "web", "inputs": [url_list], "out": out, "workers": workers,
                                         "shard_bytes": 1_000_000, "unit_size": 32, "short_side": 64}), progress=False)
    print_summary(summary)
    return summary


def write_text_tower(folder: Path, captions: list[str]) -> Path:
    """A tiny random BERT folder (config.json, model.safetensors, vocab.txt) with the captions'
    words, as transformers' save_pretrained lays one out; written from vmae's own text tower, so
    the demo needs no download and no transformers."""
    import json

    from safetensors.torch import save_file

    from trainer.data.captions import normalize
    from trainer.models.text import TextConfig, TextTower

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted({w for c in captions for w in normalize(c).split()})]
    text = TextConfig(vocab_size=len(vocab), dim=64, depth=3, heads=2, mlp_dim=128, max_positions=32,
                      fusion_layers=1, pad_id=0, cls_id=2, sep_id=3, mask_id=4)
    tower = TextTower(text)
    bert = {k: v.contiguous() for k, v in tower.state_dict().items() if ".crossattention." not in k}  # BERT has none
    save_file(bert, folder / "model.safetensors", metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps({
        "model_type": "bert", "architectures": ["BertModel"], "vocab_size": text.vocab_size, "hidden_size": text.dim,
        "num_hidden_layers": text.depth, "num_attention_heads": text.heads, "intermediate_size": text.mlp_dim,
        "max_position_embeddings": text.max_positions, "type_vocab_size": text.type_vocab, "layer_norm_eps": text.eps,
        "hidden_dropout_prob": text.dropout, "hidden_act": "gelu", "pad_token_id": 0}, indent=2))
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    return folder
