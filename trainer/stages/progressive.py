"""`vmae train progressive`: VideoMAE V2's progressive training from one YAML file — stage 1
(pretrain) → 2 (postpretrain) → 3 (finetune) → eval, each stage started from the previous one's
final checkpoint; and UMT's second stage (vlpretrain), started from stage 1 beside that chain.
A stage that finished leaves done.json in its folder and is not redone; one
that was interrupted resumes from its newest checkpoint.

    out: runs/demo
    model: vit_test
    data: {frames: 8, stride: 2, img_size: 64}     # shared by every stage; a stage's own win
    pretrain:     {shards: [corpora/unlabeled], steps: 300}   # objective: umt (+ teacher_weights) for UMT
    vlpretrain:   {shards: [corpora/captioned], text_weights: bert/, teacher_weights: random, steps: 200}
    postpretrain: {shards: [corpora/labeled], steps: 500}
    finetune:     {shards: [corpora/train], val_shards: [corpora/val], steps: 300, flip: false}
    eval:         {shards: [corpora/test], clips: 2, crops: 3}

Any stage may be left out; `init:` in a training stage starts it from another checkpoint (in
pretrain: to go on pretraining one).
A stage that starts from a checkpoint takes its clip geometry (a UMT student's 8 sparse frames and
tubelet 1) unless the file says otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from manifests.tables import write_atomic_bytes
from trainer.eval.evaluate import run_eval
from trainer.settings import configure
from trainer.stages.specs import STAGES

STEPS = (*STAGES, "eval")  # the registered stages in their order, then the evaluation
SHARED = ("model", "data")
EVAL_SETTINGS = ("shards", "clips", "crops", "batch_size", "workers", "decoder", "decode_device")


class ProgressiveError(Exception):
    """A progressive-run file that cannot be carried out, with what to fix."""


def _merge(shared: dict, own: dict) -> dict:
    doc = {**shared, **own}
    if "data" in shared or "data" in own:
        doc["data"] = {**shared.get("data", {}), **own.get("data", {})}
    return doc


def _done(folder: Path) -> dict | None:
    marker = folder / "done.json"
    return json.loads(marker.read_text()) if marker.is_file() else None


def _finish(folder: Path, result: dict) -> dict:
    write_atomic_bytes(folder / "done.json", json.dumps(result, indent=2, default=str).encode())
    return result


def read_plan(path: str | Path) -> dict:
    doc = yaml.safe_load(Path(path).read_text()) or {}
    unknown = set(doc) - {"out", *SHARED, *STEPS}
    if unknown:
        raise ProgressiveError(f"{path}: unknown sections {sorted(unknown)}; expected out, model, data and "
                               f"the stages {', '.join(STEPS)}")
    if not doc.get("out"):
        raise ProgressiveError(f"{path}: give 'out:', the folder of the whole run")
    if not any(s in doc for s in STEPS):
        raise ProgressiveError(f"{path}: no stages; add some of {', '.join(STEPS)}")
    return doc


def run_progressive(path: str | Path, progress: bool = True, announce=print) -> dict:
    plan = read_plan(path)
    root = Path(plan["out"])
    shared = {k: plan[k] for k in SHARED if k in plan}
    previous: Path | None = None  # the folder of the last training stage run
    stages: dict[str, dict] = {}
    for stage in STEPS:
        if stage not in plan:
            continue
        folder = root / stage
        spec = STAGES.get(stage)
        done = _done(folder)
        if done is not None:
            announce(f"== {stage}: finished before ({folder / 'done.json'}), not redone")
            stages[stage], previous = done, folder if spec is not None and spec.chain else previous
            continue
        announce(f"== {stage}")
        own = dict(plan[stage] or {})
        if spec is None:
            stages[stage] = _finish(folder, _evaluate(path, own, previous, folder, progress))
            continue
        if previous is not None and "init" not in own:  # each stage goes on from the chain's last
            own["init"] = str(previous)
        cfg = configure(spec.config, {"out": str(folder), **spec.fixed}, _merge(shared, own))
        result = spec.runner()(cfg, progress=progress)
        if result["steps"] < result["total_steps"]:  # stopped early (stop_after): rerun goes on from here
            announce(f"== {stage} stopped at step {result['steps']} of {result['total_steps']}; rerun to go on")
            stages[stage] = result
            return {"out": str(root), "stages": stages, "finished": False}
        previous = folder if spec.chain else previous  # vlpretrain runs beside the chain, from stage 1
        stages[stage] = _finish(folder, result)
    return {"out": str(root), "stages": stages, "finished": True}


def _evaluate(path: str | Path, own: dict, previous: Path | None, folder: Path, progress: bool) -> dict:
    """The eval step: the chain's last checkpoint (its best one where it kept one), or `ckpt:`."""
    if previous is None and "ckpt" not in own:
        raise ProgressiveError(f"{path}: eval needs a training stage before it or 'ckpt:'")
    best = previous / "best.pt" if previous is not None else None
    ckpt = own.pop("ckpt", None) or (best if best is not None and best.is_file() else previous)
    unknown = set(own) - set(EVAL_SETTINGS)
    if unknown:
        raise ProgressiveError(f"{path}: eval takes {', '.join(EVAL_SETTINGS)}; not {sorted(unknown)}")
    result = run_eval(ckpt, list(own.pop("shards", [])), folder, overwrite=True, progress=progress,
                      **own) or {}  # {} on ranks other than 0 under torchrun
    result.pop("failed_keys", None)
    return result
