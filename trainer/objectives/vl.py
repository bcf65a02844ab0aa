"""vl: UMT's second stage (Li et al., ICCV 2023; its losses are ALBEF's, and InternVideo2's stage 2
reuses them). One step is all videos or all images:

- UMA: stage 1's alignment of the student's last blocks to the frozen image teacher, whose
  attention also picks the semantic mask (0.8 of a video's tokens hidden, 0.5 of an image's);
  every other loss sees only the visible tokens.
- VTC: symmetric contrastive loss between video and caption embeddings over the batch gathered
  from every rank. The gather passes gradients back to the rank that made each embedding, so each
  rank's gradient is that of the loss on the joined batch (DDP's average then equals one process
  on the whole batch). Samples with the same caption id are soft positives.
- VTM: for each caption one hard negative video, and for each video one hard negative caption,
  drawn from the VTC similarities (never a positive); the matching head tells them from the pairs.
- MLM: half the caption tokens masked (80% [MASK], 10% random, 10% kept; never padding or [CLS])
  and predicted by the fusion layers from the rest and the video.

Shapes: B batch, N visible video tokens, D video width, L caption tokens, E shared width.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from trainer.data.augment import to_model_input
from trainer.models.text import TextConfig
from trainer.objectives.base import Encoded, Objective
from trainer.objectives.umt import UMT


def gather(x: torch.Tensor) -> torch.Tensor:
    """x (B, …) from every rank, joined in rank order (R·B, …), with gradients flowing back to each
    rank's own slice summed over every rank's loss."""
    if not dist.is_available() or not dist.is_initialized() or dist.get_world_size() == 1:
        return x
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(x), dim=0)


def gather_ids(ids: torch.Tensor) -> torch.Tensor:
    """Caption ids (B,) from every rank, in rank order (no gradient to carry)."""
    if not dist.is_available() or not dist.is_initialized() or dist.get_world_size() == 1:
        return ids
    out = [torch.empty_like(ids) for _ in range(dist.get_world_size())]
    dist.all_gather(out, ids)
    return torch.cat(out)


def positives(ids: torch.Tensor) -> torch.Tensor:
    """(B,) caption ids -> (B, B) bool: the pairs that are the same media."""
    return ids[:, None] == ids[None, :]


def vtc_loss(video: torch.Tensor, text: torch.Tensor, ids: torch.Tensor, temp: torch.Tensor) -> torch.Tensor:
    """video, text (B, E) unit length, ids (B,) -> the symmetric contrastive loss; the targets spread
    over every pair with the same id."""
    sim = video @ text.T / temp  # (B, B): video i against caption j
    targets = positives(ids).float()
    targets = targets / targets.sum(dim=1, keepdim=True)
    v2t = -(F.log_softmax(sim, dim=1) * targets).sum(dim=1).mean()
    t2v = -(F.log_softmax(sim.T, dim=1) * targets).sum(dim=1).mean()
    return (v2t + t2v) / 2


def hard_negatives(sim: torch.Tensor, ids: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """sim (B, B) -> for each row one column drawn with probability softmax(sim) among the columns
    that are not positives of the row; -1 for a row that has none."""
    weights = F.softmax(sim.float(), dim=1).masked_fill(positives(ids), 0)
    has = weights.sum(dim=1) > 0
    weights[~has] = 1  # drawn, then discarded
    drawn = torch.multinomial(weights, 1, generator=generator).squeeze(1)
    return torch.where(has, drawn, torch.full_like(drawn, -1))


def vtm_loss(model: nn.Module, text: torch.Tensor, keep: torch.Tensor, tokens: torch.Tensor, sim: torch.Tensor,
             ids: torch.Tensor) -> torch.Tensor:
    """Matching: each (video, caption) pair, each caption with a hard negative video and each video
    with a hard negative caption; cross-entropy of the matching head (1 = matches)."""
    with torch.no_grad():
        neg_video = hard_negatives(sim.T, ids)  # for each caption
        neg_text = hard_negatives(sim, ids)  # for each video
    a, b = neg_video >= 0, neg_text >= 0
    texts = torch.cat([text, text[a], text[neg_text[b]]])
    keeps = torch.cat([keep, keep[a], keep[neg_text[b]]])
    videos = torch.cat([tokens, tokens[neg_video[a]], tokens[b]])
    logits = model.match_logits(texts, keeps, videos)  # (B + negatives, 2)
    labels = torch.zeros(len(logits), dtype=torch.long, device=logits.device)
    labels[:len(text)] = 1
    return F.cross_entropy(logits.float(), labels)


def mask_tokens(ids: torch.Tensor, keep: torch.Tensor, cfg: TextConfig, prob: float,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: each real token but [CLS] is chosen with probability `prob`; of those 80%
    become [MASK], 10% a random token, 10% stay. Returns the masked ids and the labels (the
    original id where chosen, -100 elsewhere)."""
    device = ids.device
    draw = lambda: torch.rand(ids.shape, generator=generator, device=device)  # noqa: E731
    chosen = (draw() < prob) & keep & (ids != cfg.cls_id) & (ids != cfg.pad_id)
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    how = draw()
    masked = torch.where(chosen & (how < 0.8), torch.full_like(ids, cfg.mask_id), ids)
    random_ids = torch.randint(cfg.vocab_size, ids.shape, generator=generator, device=device)
    masked = torch.where(chosen & (how >= 0.8) & (how < 0.9), random_ids, masked)
    return masked, labels


def mlm_loss(model: nn.Module, ids: torch.Tensor, keep: torch.Tensor, tokens: torch.Tensor, prob: float,
             generator: torch.Generator | None = None) -> torch.Tensor:
    masked, labels = mask_tokens(ids, keep, model.text_cfg, prob, generator)
    fused = model.text.fuse(model.encode_text(masked, keep), keep, tokens)
    chosen = labels != -100
    if not chosen.any():  # no token drawn (tiny batches): nothing to predict, a zero that keeps the graph
        return fused.sum() * 0
    logits = model.text_mlm(fused[chosen])  # only the chosen tokens: (M, vocab)
    return F.cross_entropy(logits.float(), labels[chosen])


class VideoLanguage(Objective):
    frozen = ("uma.teacher",)

    def __init__(self, uma: UMT | None, weights: dict[str, float], video_mask: float, image_mask: float,
                 mlm_prob: float):
        super().__init__()
        self.uma = uma
        self.weights = {name: w for name, w in weights.items() if w > 0 and (name != "uma" or uma is not None)}
        self.video_mask, self.image_mask, self.mlm_prob = video_mask, image_mask, mlm_prob

    def step_facts(self) -> dict:
        return self.uma.step_facts() if self.uma is not None else {}

    @classmethod
    def build(cls, cfg, model: nn.Module, device: torch.device) -> VideoLanguage:
        options = cfg.vl
        uma = UMT.build(cfg, model, device) if options.uma_weight > 0 else None
        return cls(uma, options.weights(), cfg.encoder_mask, options.image_mask, options.mlm_prob)

    def unused(self, model: nn.Module, name: str) -> bool:
        """Whether a model weight is read by none of the chosen losses (it then stays as it is)."""
        w = self.weights
        fusion = name.startswith("text.encoder.layer.") and int(name.split(".")[3]) >= model.text_cfg.text_layers
        if name.startswith("text_mlm."):
            return "mlm" not in w
        if name.startswith("itm_head."):
            return "vtm" not in w
        if fusion:
            return "vtm" not in w and "mlm" not in w
        if name.startswith(("vision_norm.", "vision_proj.", "text_proj.")) or name == "temp":
            return "vtc" not in w  # the matching loss draws its negatives from these without gradients
        if name.startswith("text."):
            return not {"vtc", "vtm", "mlm"} & set(w)
        return False

    def forward(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
        model.clamp_temperature()
        image = batch["video"].shape[2] == 1
        inputs, pixels = to_model_input(batch["video"])
        hidden, keep_last = None, 0
        if self.uma is not None:
            # the teacher sees what the student's patch embedding sees: an image repeated to a tubelet
            tubelet = model.cfg.tubelet
            batch["pixels"] = pixels.expand(-1, -1, tubelet, -1, -1) if image else pixels
            batch["mask_ratio"] = self.image_mask if image else self.video_mask
            if image:
                batch["umt_pos"] = model.image_pos
            with torch.no_grad():
                self.uma.prepare(batch)
            targets = batch["umt_targets"]  # (K, B, N, C); without a semantic mask every token is visible
            hidden = batch.setdefault("hidden", torch.zeros(targets.shape[1:3], dtype=torch.bool,
                                                            device=targets.device))
            keep_last = self.uma.layers
        tokens, layers = model.encode_video(inputs, hidden, keep_last)  # (B, N_vis, D)
        ids, keep = batch["ids"], batch["keep"]
        text = model.encode_text(ids, keep)  # (B, L, D_text)
        video_emb, text_emb = model.video_embedding(tokens), model.text_embedding(text)
        losses = {}
        if "uma" in self.weights:
            losses["uma"] = self.uma.loss(model, Encoded(tokens, layers), batch)
        if "vtc" in self.weights:
            losses["vtc"] = vtc_loss(gather(video_emb), gather(text_emb), gather_ids(batch["caption_id"]), model.temp)
        if "vtm" in self.weights:
            sim = (video_emb @ text_emb.T / model.temp).detach()
            losses["vtm"] = vtm_loss(model, text, keep, tokens, sim, batch["caption_id"])
        if "mlm" in self.weights:
            losses["mlm"] = mlm_loss(model, ids, keep, tokens, self.mlm_prob)
        total = sum(self.weights[name] * loss for name, loss in losses.items())
        return total, {f"loss_{name}": loss.detach() for name, loss in losses.items()}
