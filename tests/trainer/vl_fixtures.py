"""What the video-language tests share: captioned video and image corpora built by the corpus tools
from scenes whose captions say what a person sees (the direction the scene moves in, and whether
it is light or dark), a tiny BERT folder written by transformers with a vocabulary of the
captions' words, and a stage-1 UMT student trained for a few steps."""

from __future__ import annotations

import csv
from pathlib import Path

from PIL import Image

from corpus.localserve import serve_folder
from corpus.synthetic import DIRECTIONS, make_video
from tests.helpers import build_corpus

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
SHADES = {"light": (0xE8E8E0, 0xB8B8B0), "dark": (0x202028, 0x404048)}  # the scene's gradient: what "light" means
COLOURS = {"red": (220, 30, 30), "green": (30, 200, 60), "blue": (40, 60, 220)}


def caption(direction: str, shade: str) -> str:
    return f"a {shade} scene {direction}."


def captioned_videos(root: Path, count: int = 8, seed: int = 500) -> Path:
    """A captioned web corpus (WebVid's columns) of scrolling scenes, served from 127.0.0.1."""
    src, rows = root / "vl_videos_src", []
    directions = list(DIRECTIONS)[:4]
    for k in range(count):
        direction, shade = directions[k % 4], list(SHADES)[(k // 4) % 2]
        dx, dy = DIRECTIONS[direction]
        path = make_video(src / f"v{k}.mp4", pattern=f"scene{seed + k}", seconds=1.6, width=80, height=60, fps=10,
                          scroll=(0.04 * dx, 0.04 * dy), extra_boxes=4, palette=SHADES[shade])
        rows.append((path, caption(direction, shade)))
    with serve_folder(src) as base:
        with open(root / "vl_videos.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["videoid", "contentUrl", "name"])
            w.writerows((p.stem, f"{base}/{p.name}", text) for p, text in rows)
        build_corpus(root / "vl_videos", "web", [root / "vl_videos.csv"], clip={"short_side": 48}, workers=2)
    return root / "vl_videos"


def captioned_images(root: Path, count: int = 6) -> Path:
    """A captioned image corpus (url, caption) of plain coloured pictures with a bar."""
    src, rows = root / "vl_images_src", []
    src.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        name = list(COLOURS)[k % len(COLOURS)]
        image = Image.new("RGB", (64, 48), COLOURS[name])
        image.paste((255, 255, 255), (8 + 4 * k, 20, 40 + 4 * k, 28))
        image.save(src / f"i{k}.jpg", quality=90)
        rows.append((f"i{k}.jpg", f"a {name} picture with a white bar"))
    with serve_folder(src) as base:
        with open(root / "vl_images.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["url", "caption"])
            w.writerows((f"{base}/{name}", text) for name, text in rows)
        build_corpus(root / "vl_images", "images", [root / "vl_images.csv"], image={"min_side": 16})
    return root / "vl_images"


def bert_folder(root: Path, words: list[str]) -> Path:
    """A tiny random BERT (BertForMaskedLM) as save_pretrained writes it, with a vocab.txt."""
    from transformers import BertConfig, BertForMaskedLM

    folder = root / "bert"
    folder.mkdir(parents=True, exist_ok=True)
    vocab = SPECIAL + sorted(set(words))
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, pad_token_id=0)
    BertForMaskedLM(config).save_pretrained(folder)
    return folder


def words() -> list[str]:
    text = " ".join([caption(d, s) for d in DIRECTIONS for s in SHADES]
                    + [f"a {c} picture with a white bar" for c in COLOURS])
    return text.replace(".", " ").replace("-", " - ").split()
