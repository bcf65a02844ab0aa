"""Text-to-video and video-to-text retrieval of a video-language model on a captioned corpus:
every video and every caption embedded once into the shared space; ranking by the contrastive
similarity; then the top k of each query re-ranked by the matching head. Both rankings are
reported, under their own names, since re-ranking changes the figures (the official UMT code
reports the re-ranked ones under plain metric names).

A video with several captions: each caption is a text query whose one answer is its video; a
video query is answered by any of its captions, counted at the best rank. Paragraph mode joins a
video's captions into one (DiDeMo, ActivityNet Captions).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from manifests.tables import write_atomic_bytes
from trainer import checkpoint
from trainer.data.augment import to_model_input
from trainer.data.captioned import RetrievalStream
from trainer.data.captions import Tokenizer
from trainer.data.config import DataConfig
from trainer.data.labeled import collate_list
from trainer.data.shards import resolve_shards
from trainer.errors import CheckpointError, ConfigError, DataError
from trainer.eval.evaluate import data_config_of
from trainer.eval.retrieval_sheet import query_sheet
from trainer.models.families import VIDEO_LANGUAGE

KS = (1, 5, 10)


@dataclass
class Embedded:
    keys: list[str]  # one per video
    thumbs: torch.Tensor  # (V, 3, S, S) uint8: each video's middle frame, for pictures
    video: torch.Tensor  # (V, E) unit length
    tokens: torch.Tensor  # (V, N, D) the videos' tokens, for the matching head (half precision)
    captions: list[str]  # every caption
    owner: np.ndarray  # (C,) the video of each caption
    text: torch.Tensor  # (C, E) unit length
    text_features: torch.Tensor  # (C, L, D_text), for the matching head
    text_keep: torch.Tensor  # (C, L) bool


@torch.inference_mode()
def embed(model, urls: list[str], data: DataConfig, tokenizer: Tokenizer, batch_size: int = 16,
          paragraph: bool = False, progress: bool = False, captioned: bool = True) -> Embedded:
    """Every decodable captioned sample of the shards (every decodable one, when not `captioned`:
    a corpus to search), embedded (rank 0 alone reads them all)."""
    model.eval()
    loader = DataLoader(RetrievalStream(urls, data), batch_size=batch_size, num_workers=data.workers,
                        collate_fn=collate_list)
    keys, thumbs, video, tokens, captions, owner = [], [], [], [], [], []
    for items in tqdm(loader, desc="embed videos", disable=not progress):
        items = [it for it in items if it["video"] is not None and (it["captions"] or not captioned)]
        if not items:
            continue
        clips = torch.stack([it["video"] for it in items])  # (B, 3, T, S, S)
        thumbs.append(clips[:, :, clips.shape[2] // 2])
        inputs, _ = to_model_input(clips)
        t, _ = model.encode_video(inputs)
        video.append(model.video_embedding(t))
        tokens.append(t.half())
        for it in items:
            texts = [" ".join(it["captions"])] if paragraph else it["captions"]
            captions += texts
            owner += [len(keys)] * len(texts)
            keys.append(it["key"])
    if not keys:
        raise DataError(f"no {'captioned ' if captioned else ''}sample could be read from the {len(urls)} shards"
                        + (": retrieval needs a corpus whose samples have captions (.txt, or captions in .json)"
                           if captioned else ""))
    text, features, keeps = embed_text(model, tokenizer, captions, batch_size)
    return Embedded(keys, torch.cat(thumbs), torch.cat(video), torch.cat(tokens), captions, np.asarray(owner),
                    text, features, keeps)


@torch.inference_mode()
def embed_text(model, tokenizer: Tokenizer, captions: list[str],
               batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Captions -> their shared-space embeddings (C, E), text features (C, L, D, half) and keep (C, L)."""
    model.eval()
    text, features, keeps = [], [], []
    for start in range(0, len(captions), batch_size):
        ids, keep = tokenizer(captions[start:start + batch_size])
        f = model.encode_text(ids, keep)
        text.append(model.text_embedding(f))
        features.append(f.half())
        keeps.append(keep)
    if not text:
        return torch.empty(0, model.embed_dim), torch.empty(0), torch.empty(0, dtype=torch.bool)
    return torch.cat(text), torch.cat(features), torch.cat(keeps)


def best_ranks(sim: np.ndarray, answers: list[np.ndarray]) -> np.ndarray:
    """sim (Q, G) -> for each query the 0-based rank of its best-ranked answer."""
    order = np.argsort(-sim, axis=1, kind="stable")
    where = np.empty_like(order)
    rows = np.arange(sim.shape[0])[:, None]
    where[rows, order] = np.arange(sim.shape[1])[None, :]
    return np.array([where[q, a].min() for q, a in enumerate(answers)])


def recalls(ranks: np.ndarray, prefix: str) -> dict[str, float]:
    return {f"{prefix}_r{k}": float((ranks < k).mean() * 100) for k in KS}


def metrics(t2v: np.ndarray, owner: np.ndarray, v2t: np.ndarray | None = None) -> dict[str, float]:
    """t2v (C, V) caption-to-video scores (and v2t (V, C), when not its transpose) -> R@1/5/10
    both ways (percent) and their mean."""
    v2t = t2v.T if v2t is None else v2t
    by_video = [np.flatnonzero(owner == v) for v in range(t2v.shape[1])]
    out = recalls(best_ranks(t2v, [np.array([o]) for o in owner]), "t2v")
    out |= recalls(best_ranks(v2t, by_video), "v2t")
    out["mean"] = float(np.mean(list(out.values())))
    return out


def reranked(sim: np.ndarray, k: int, score) -> np.ndarray:
    """sim (Q, G) with each query's top k replaced by score(query, candidates) above every other
    score, so that the top k come first in the matching head's order and the rest keep theirs."""
    out = sim.astype(np.float64).copy()
    k = min(k, sim.shape[1])
    top = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    lift = np.abs(sim).max() + 10
    for q in range(sim.shape[0]):
        out[q, top[q]] = lift + score(q, top[q])
    return out


def match_scores(model, emb: Embedded, caption_query: bool, batch: int = 64):
    """score(query, candidates) -> the matching head's probability that they go together."""

    @torch.inference_mode()
    def score(q: int, candidates: np.ndarray) -> np.ndarray:
        out = []
        for start in range(0, len(candidates), batch):
            cand = torch.from_numpy(candidates[start:start + batch])
            if caption_query:
                text, keep, video = emb.text_features[q].expand(len(cand), -1, -1), emb.text_keep[q].expand(
                    len(cand), -1), emb.tokens[cand]
            else:
                text, keep, video = emb.text_features[cand], emb.text_keep[cand], emb.tokens[q].expand(
                    len(cand), -1, -1)
            logits = model.match_logits(text.float(), keep, video.float())
            out.append(logits.float().softmax(dim=1)[:, 1].numpy())
        return np.concatenate(out)

    return score


def evaluate(model, emb: Embedded, rerank: int) -> dict[str, dict[str, float]]:
    """{"contrastive": …, "reranked": …}: R@1/5/10 of text-to-video and video-to-text, and the mean."""
    t2v = (emb.text @ emb.video.T).float().numpy()  # (C, V)
    result = {"contrastive": metrics(t2v, emb.owner)}
    if rerank > 0:
        result["reranked"] = metrics(reranked(t2v, rerank, match_scores(model, emb, caption_query=True)), emb.owner,
                                     reranked(t2v.T, rerank, match_scores(model, emb, caption_query=False)))
    return result


def run_retrieval(ckpt_path: str | Path, shards: list[str], out: Path, batch_size: int = 16,
                  workers: int | None = None, paragraph: bool = False, rerank: int = 128, overwrite: bool = False,
                  progress: bool = True, decoder: str | None = None, decode_device: str | None = None) -> dict:
    """`vmae eval --task retrieval`: zero-shot (or fine-tuned) retrieval of a video-language
    checkpoint on a captioned corpus; retrieval.json and retrieval.png in `out`."""
    if (out / "retrieval.json").exists() and not overwrite:
        raise ConfigError(f"{out} already holds a retrieval evaluation; give another --out or --overwrite")
    ckpt = checkpoint.read(ckpt_path)
    if ckpt.family is not VIDEO_LANGUAGE:
        raise CheckpointError(f"{ckpt.path} is a {ckpt.kind} checkpoint; retrieval needs a video-language one "
                              "('vmae train vlpretrain')")
    model = checkpoint.rebuild(ckpt)
    data = data_config_of(ckpt, workers=workers, decoder=decoder, decode_device=decode_device)
    tokens = (ckpt.config.get("vl") or {}).get("max_tokens", 32)
    urls, _ = resolve_shards(shards)
    emb = embed(model, urls, data, Tokenizer(model.vocab, tokens), batch_size, paragraph, progress)
    result = {"checkpoint": str(ckpt.path), "shards": list(shards), "videos": len(emb.keys),
              "captions": len(emb.captions), "paragraph": paragraph, "rerank_top_k": rerank,
              **evaluate(model, emb, rerank)}
    out.mkdir(parents=True, exist_ok=True)
    write_atomic_bytes(out / "retrieval.json", json.dumps(result, indent=2).encode())
    query_sheet(emb, out / "retrieval.png")
    return result
