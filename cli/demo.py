"""`vmae demo`: the main job on a laptop, end to end on synthetic data whose classes only motion
tells apart: corpora → dedup → unlabeled and labeled hybrids → stage 1 → 2 → 3 → multi-view eval,
and stage 3 again from scratch for comparison; then UMT's second stage from the same stage-1
student on captioned scenes, scored by zero-shot text-to-video retrieval on held-out clips."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Annotated

import typer

# videos per class in each set (the pools have all six directions, the target sets four)
SETS = {"pool_a": 22, "pool_b": 14, "unlabeled": 10, "target_train": 12, "target_val": 5, "target_test": 10}

RECIPES = {
    "unlabeled": """\
# The demo's unlabeled hybrid: every clip that survives dedup, labels dropped (VideoMAE V2's
# UnlabeledHybrid mixes Kinetics, SSv2, AVA, WebVid and Instagram the same way).
name: demo_unlabeled
keep_labels: false
sources:
  web:    {{quota: {web}}}
  movies: {{quota: {movies}}}
  pool_a: {{quota: {pool_a}}}
  pool_b: {{quota: {pool_b}}}
""",
    "labeled": """\
# The demo's labeled hybrid: two labeled pools with six motion classes merged (as K400 + K600 +
# K700 make K710), labels kept.
name: demo_labeled
keep_labels: true
sources:
  pool_a: {{quota: {pool_a}}}
  pool_b: {{quota: {pool_b}}}
""",
}

DATA = {"frames": 8, "stride": 2, "img_size": 64, "workers": 2, "shuffle_buffer": 200}
LIGHT = {"rand_augment": "", "mixup": 0.0, "cutmix": 0.0, "erase_prob": 0.0, "smoothing": 0.0, "flip": False,
         "crop_scale": [0.4, 1.0], "drop_path": 0.0, "layer_decay": 0.9, "batch_size": 16, "lr": 1e-3,
         "data": {"num_views": 1}}


def _heading(text: str) -> None:
    typer.secho(f"\n== {text}", bold=True)


def _check(path: Path) -> None:
    from manifests.validate import validate

    result = validate(path)
    if not result.ok:
        raise typer.Exit(f"validation failed for {path}: {result.problems}")


def _plan(corpora: Path, steps: dict[str, int], out: Path, scratch: bool) -> dict:
    finetune = {"shards": [str(corpora / "target_train")], "val_shards": [str(corpora / "target_val")],
                "steps": steps["finetune"], "val_every": max(1, steps["finetune"] // 4), **LIGHT}
    if scratch:
        return {"out": str(out), "model": "vit_test", "data": DATA, "finetune": finetune,
                "eval": {"shards": [str(corpora / "target_test")], "clips": 2, "crops": 3}}
    return {
        "out": str(out), "model": "vit_test", "data": DATA,
        # one view per decoded clip: a batch of 16 holds only 4 clips at the default 4 views, and the demo's
        # top-1 fell from 1.0 to 0.825 with them (trainer/stages/loop.py: few_clips_warning)
        "pretrain": {"shards": [str(corpora / "unlabeled_hybrid")], "steps": steps["pretrain"], "batch_size": 16,
                     "lr": 1.5e-3, "encoder_mask": 0.75, "data": {"num_views": 1}},
        "postpretrain": {"shards": [str(corpora / "labeled_hybrid")], "val_shards": [],
                         "steps": steps["postpretrain"], **LIGHT},
        "finetune": finetune,
        "eval": {"shards": [str(corpora / "target_test")], "clips": 2, "crops": 3},
    }


def _video_language(out: Path, corpora: Path, runs: Path, workers: int, steps: int) -> dict:
    """Captioned scenes (their colour and direction) → corpora → vlpretrain from the progressive
    run's stage-1 student → retrieval on the held-out scenes. The demo has no CLIP weights, so its
    stage 2 trains without a teacher: VTC, VTM and MLM."""
    from cli.demo_data import CAPTIONED_SETS, build_captioned, captioned_plan, make_captioned, write_text_tower
    from trainer.config import VLConfig
    from trainer.eval.retrieval import run_retrieval
    from trainer.settings import configure
    from trainer.stages.vlpretrain import vlpretrain

    sets = captioned_plan(CAPTIONED_SETS)
    _heading(f"video-language: {sum(len(v) for v in sets.values())} captioned scenes ('a red scene moving left': "
             "3 colours × 4 directions), the test scenes held out")
    make_captioned(out / "videos", sets)
    for name, clips in sets.items():
        build_captioned(corpora / name, name, clips, out / "videos", workers)
    bert = write_text_tower(out / "text_tower", [c.caption for clips in sets.values() for c in clips])
    _heading("UMT stage 2 (vlpretrain) from the stage-1 student: VTC, VTM, MLM")
    cfg = configure(VLConfig, {"shards": [str(corpora / "captioned_train")], "out": str(runs / "vlpretrain"),
                               "init": str(runs / "progressive" / "pretrain"), "text_weights": str(bert),
                               "fusion_layers": 1, "uma_weight": 0.0, "mask_type": "none", "steps": steps,
                               "flip": False,  # the captions say left and right
                               "batch_size": 12, "lr": 1e-3,
                               # the student's clips (8 frames 2 apart): motion at the speed it learned it
                               "data": {"frames": 8, "sampling": "dense", "stride": 2, "workers": 2,
                                        "shuffle_buffer": 100}})
    vlpretrain(cfg, progress=True)
    test = len(sets["captioned_test"])
    result = run_retrieval(runs / "vlpretrain", [str(corpora / "captioned_test")], runs / "vlpretrain" / "retrieval",
                           rerank=test, overwrite=True, progress=False)
    return {**result, "chance": 100 / test}


def _cell(stages: dict, stage: str, key: str) -> str:
    value = stages.get(stage, {}).get(key)
    return "-" if value is None else f"{value:.3f}"


def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's videos, corpora and runs.")] = Path("demo-output"),
    workers: Annotated[int, typer.Option(help="Parallel worker processes.")] = 2,
    pretrain_steps: Annotated[int, typer.Option(help="Stage-1 steps.")] = 300,
    postpretrain_steps: Annotated[int, typer.Option(help="Stage-2 steps.")] = 1200,
    finetune_steps: Annotated[int, typer.Option(help="Stage-3 steps (also for the from-scratch run).")] = 200,
    scratch: Annotated[bool, typer.Option(help="Also run stage 3 from scratch, for comparison.")] = True,
    vl_steps: Annotated[int, typer.Option(help="Video-language (UMT stage 2) steps; 0 skips that part.")] = 600,
) -> None:
    """Make synthetic motion videos, serve them on 127.0.0.1, build corpora with the web and movies
    sources, dedup, mix an unlabeled and a labeled hybrid, run stage 1 → 2 → 3 with a tiny model,
    evaluate on held-out clips (multi-view), and compare with stage 3 from scratch. Ends with the
    line RESULT demo top1=<accuracy> minutes=<wall time>."""
    import yaml

    from cli.demo_data import PLANTED, TARGET_CLASSES, build_movies, build_web, make_videos, plan, planted_found
    from corpus.dedup.run import dedup
    from corpus.mix.run import MixOptions, mix
    from corpus.options import ShardOptions
    from corpus.report import report
    from manifests.validate import validate
    from trainer.stages.progressive import run_progressive

    start = time.time()
    videos, corpora, runs = out / "videos", out / "corpora", out / "runs"
    for stale in (corpora, runs):
        shutil.rmtree(stale, ignore_errors=True)
    sets = plan(SETS)
    _heading(f"synthetic videos: {sum(len(v) for v in sets.values())} scenes scrolling in 6 directions "
             "(one frame cannot tell which), plus 3 long films")
    make_videos(videos, sets)
    for name, clips in sets.items():
        _heading(f"web source: {name} ({len(clips)} URLs on 127.0.0.1)")
        extra = list(PLANTED) if name == "unlabeled" else []
        build_web(corpora / ("web" if name == "unlabeled" else name), name, clips, videos, workers, extra)
    _heading("movies source: long films cut into 3 s windows")
    build_movies(corpora / "movies", videos, workers)
    training = [corpora / n for n in ("web", "movies", "pool_a", "pool_b")]
    _heading("dedup: training corpora together (an exact and a re-encoded copy were planted), the target's "
             "evaluation sets held out")
    for r in dedup(training, against=[corpora / "target_val", corpora / "target_test"]):
        typer.echo(f"{Path(r.corpus).name:<8} {r.items} clips, dropped {r.dropped or 'none'}")
    for line in planted_found(corpora / "web", sets["pool_a"][0].name):
        typer.echo(line)
    counts = {p.name: int(validate(p).checked.get("clips", 0)) for p in training}
    for kind, inputs in (("unlabeled", training), ("labeled", training[2:])):
        recipe = out / f"demo_{kind}.yaml"
        recipe.write_text(RECIPES[kind].format(**counts))
        summary = mix(MixOptions(recipe=str(recipe), inputs={p.name: str(p) for p in inputs},
                                 out=str(corpora / f"{kind}_hybrid"), shard=ShardOptions(shard_bytes=1_000_000)))
        typer.echo(f"{kind} hybrid: " + ", ".join(f"{n} {r['selected']}" for n, r in summary["mix"].items()))
        _check(corpora / f"{kind}_hybrid")
    png, _ = report([*training, corpora / "unlabeled_hybrid", corpora / "labeled_hybrid"], out / "report.png")
    typer.echo(f"corpus report: {png} (and {png.with_suffix('.html')}, with contact sheets)")
    typer.echo(f"to look at the clips: vmae corpus view {' '.join(str(c) for c in training)} "
               f"{corpora / 'unlabeled_hybrid'}")
    steps = {"pretrain": pretrain_steps, "postpretrain": postpretrain_steps, "finetune": finetune_steps}
    rows = []
    for name, from_scratch in (("progressive", False), ("scratch", True)):
        if from_scratch and not scratch:
            continue
        _heading("stage 3 alone, from random weights, same steps" if from_scratch
                 else "progressive training: stage 1 (MAE, dual masking) → 2 (6 classes) → 3 (4 classes) → eval")
        run_plan = out / f"{name}.yaml"
        run_plan.write_text(yaml.safe_dump(_plan(corpora, steps, runs / name, from_scratch), sort_keys=False))
        result = run_progressive(run_plan, progress=True, announce=lambda s: typer.secho(s, bold=True))
        rows.append((name, result["stages"]))
    vl = _video_language(out, corpora, runs, workers, vl_steps) if vl_steps else None
    _heading("summary (held-out test clips, 2 clips × 3 crops per video)")
    typer.echo(f"{'run':<13}{'stage 1 loss':>13}{'stage 2 loss':>13}{'stage 3 val':>12}{'test top-1':>11}"
               f"{'test top-5':>11}")
    for name, st in rows:
        val = format(st["finetune"]["best"]["top1"], ".3f") if st["finetune"].get("best") else "-"
        typer.echo(f"{name:<13}{_cell(st, 'pretrain', 'final_loss'):>13}{_cell(st, 'postpretrain', 'final_loss'):>13}"
                   f"{val:>12}{_cell(st, 'eval', 'top1'):>11}{_cell(st, 'eval', 'top5'):>11}")
    top1 = rows[0][1]["eval"]["top1"]
    typer.echo(f"chance is {1 / len(TARGET_CLASSES):.2f}; confusion matrix: "
               f"{runs / 'progressive' / 'eval' / 'confusion.png'}")
    if vl is not None:
        c, r = vl["contrastive"], vl["reranked"]
        typer.echo(f"video-language, zero-shot text-to-video on {vl['videos']} held-out scenes (one per caption): "
                   f"R@1 {c['t2v_r1']:.1f}% (chance {vl['chance']:.1f}%), R@5 {c['t2v_r5']:.1f}%; re-ranked by the "
                   f"matching head R@1 {r['t2v_r1']:.1f}%; queries and their top clips: "
                   f"{runs / 'vlpretrain' / 'retrieval' / 'retrieval.png'}")
    t2v = f" t2v_r1={vl['contrastive']['t2v_r1']:.1f}" if vl is not None else ""
    typer.echo(f"RESULT demo top1={top1:.4f}{t2v} minutes={(time.time() - start) / 60:.1f}")
