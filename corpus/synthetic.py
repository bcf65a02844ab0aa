"""Synthetic videos with motion, made by ffmpeg's lavfi sources: the demo, the tests and the
benchmarks make their own data instead of downloading any."""

from __future__ import annotations

from pathlib import Path

import ffmpeg
import numpy as np

# lavfi sources with motion; {w}x{h} size, {r} frame rate, {d} seconds.
PATTERNS = {
    "testsrc2": "testsrc2=size={w}x{h}:rate={r}:duration={d}",
    "mandelbrot": "mandelbrot=size={w}x{h}:rate={r}:end_scale=0.02,trim=duration={d}",
    "life": "life=size={w}x{h}:rate={r}:mold=10:ratio=0.2:death_color=#C83232:life_color=#00ff00,trim=duration={d}",
    "cellauto": "cellauto=size={w}x{h}:rate={r}:rule=110,trim=duration={d}",
    "bars": "smptehdbars=size={w}x{h}:rate={r}:duration={d},hue=H=2*PI*t/3",
    "scroll": "rgbtestsrc=size={w}x{h}:rate={r}:duration={d},scroll=horizontal=0.01:vertical=0.005",
}


def scene_spec(seed: int, *, vx: float = 40.0, vy: float = 0.0, scroll: tuple[float, float] = (0.0, 0.0),
               extra_boxes: int = 0, palette: tuple[int, int] | None = None) -> str:
    """A smooth, real-looking lavfi scene: a slowly drifting seeded colour gradient with two boxes
    (and `extra_boxes` small ones, for texture). Different seeds look different. ffmpeg 5's
    drawbox evaluates its position once, so (vx, vy) only place the boxes; `scroll` moves the
    whole picture by that share of its width and height per frame, wrapping around (positive:
    right and down). `palette` sets the gradient's two colours (0xRRGGBB), so that a caption can
    name the scene's colour."""
    rng = np.random.default_rng(seed)
    colors = [f"0x{rng.integers(0, 2**24):06x}" for _ in range(4)]
    if palette is not None:
        colors[:2] = [f"0x{c:06x}" for c in palette]
    boxes = []
    for k, (bw, bh) in enumerate(((0.22, 0.3), (0.12, 0.18))):
        x0, y0 = rng.uniform(0, 1, 2)
        sx, sy = vx * (1 + 0.5 * k), vy * (1 + 0.5 * k)
        boxes.append(f"drawbox=x='mod({x0:.3f}*iw+{sx}*t,iw)':y='mod({y0:.3f}*ih+{sy}*t,ih)':"
                     f"w=iw*{bw}:h=ih*{bh}:color={colors[2 + k]}:t=fill")
    for _ in range(extra_boxes):
        x0, y0, bw, bh = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.04, 0.15), rng.uniform(0.04, 0.15)
        boxes.append(f"drawbox=x={x0:.3f}*iw:y={y0:.3f}*ih:w=iw*{bw:.3f}:h=ih*{bh:.3f}:"
                     f"color=0x{rng.integers(0, 2**24):06x}:t=fill")
    return (f"gradients=size={{w}}x{{h}}:rate={{r}}:duration={{d}}:speed=0.004:seed={seed}:"
            f"c0={colors[0]}:c1={colors[1]}:nb_colors=2," + ",".join(boxes)
            + (f",scroll=horizontal={-scroll[0]}:vertical={-scroll[1]}" if any(scroll) else ""))


# Classes that only motion tells apart (any single frame of one could be a frame of another): the
# direction a scene scrolls in, as a unit vector.
DIRECTIONS: dict[str, tuple[float, float]] = {
    "moving right": (1.0, 0.0), "moving left": (-1.0, 0.0), "moving down": (0.0, 1.0), "moving up": (0.0, -1.0),
    "moving down-right": (0.7071, 0.7071), "moving up-left": (-0.7071, -0.7071),
}


STILL = ("color=c=0x{color:06x}:size={{w}}x{{h}}:rate={{r}}:duration={{d}},"
         "drawbox=x=iw/4:y=ih/3:w=iw/2:h=ih/6:color=white:t=fill")


def lavfi_template(pattern: str, **scene_args) -> str:
    """The lavfi spec template of a pattern: a name of PATTERNS, 'sceneN' (scene_spec(N,
    **scene_args)) or 'stillN' (a title card: a flat colour with a white bar, nothing moves)."""
    if pattern.startswith("still"):
        return STILL.format(color=int(np.random.default_rng(int(pattern.removeprefix("still"))).integers(2**24)))
    if pattern.startswith("scene"):
        return scene_spec(int(pattern.removeprefix("scene")), **scene_args)
    return PATTERNS[pattern]


def make_video(path: str | Path, *, pattern: str = "testsrc2", seconds: float = 4.0, width: int = 320,
               height: int = 240, fps: float = 25, audio: bool = False, crf: int = 28,
               scroll: tuple[float, float] = (0.0, 0.0), extra_boxes: int = 0,
               palette: tuple[int, int] | None = None) -> Path:
    """Write an H.264 mp4 of a moving lavfi pattern, or of scene_spec(N, scroll=..., extra_boxes=...)
    for pattern 'sceneN' (with a sine tone when audio=True)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    scene = {"scroll": scroll, "extra_boxes": extra_boxes, **({"palette": palette} if palette else {})}
    spec = lavfi_template(pattern, **scene).format(w=width, h=height, r=fps, d=seconds)
    video = ffmpeg.input(spec, f="lavfi")
    streams = [video]
    if path.suffix == ".webm":  # as Something-Something v2 ships
        kwargs = {"vcodec": "libvpx", "deadline": "realtime", "crf": max(4, crf), "b:v": "1M", "g": int(fps * 2)}
    else:
        kwargs = {"vcodec": "libx264", "pix_fmt": "yuv420p", "preset": "ultrafast", "crf": crf, "g": int(fps * 2)}
    if audio:
        streams.append(ffmpeg.input(f"sine=frequency=440:duration={seconds}", f="lavfi"))
        kwargs["acodec"] = "libvorbis" if path.suffix == ".webm" else "aac"
    ffmpeg.output(*streams, str(path), t=seconds, **kwargs).global_args("-nostdin", "-loglevel", "error") \
        .overwrite_output().run()
    return path


def make_film(path: str | Path, shots: list[tuple[str, float]], *, width: int = 320, height: int = 240,
              fps: float = 25) -> tuple[Path, list[int]]:
    """An H.264 mp4 of shots played one after another, each (pattern, seconds) with a pattern of
    lavfi_template. Returns the path and the frame numbers where a new shot starts (the known cuts)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    parts, cuts, frame = [], [], 0
    for k, (pattern, seconds) in enumerate(shots):
        frames = round(seconds * fps)
        spec = lavfi_template(pattern).format(w=width, h=height, r=fps, d=frames / fps + 1)
        parts.append(ffmpeg.input(spec, f="lavfi").trim(start_frame=0, end_frame=frames).setpts("PTS-STARTPTS"))
        if k:
            cuts.append(frame)
        frame += frames
    ffmpeg.concat(*parts, v=1, a=0).output(str(path), vcodec="libx264", pix_fmt="yuv420p", preset="ultrafast",
                                           crf=23, g=int(fps * 2)).global_args("-nostdin", "-loglevel", "error") \
        .overwrite_output().run()
    return path, cuts
