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


def scene_spec(seed: int, *, vx: float = 40.0, vy: float = 0.0) -> str:
    """A smooth, real-looking lavfi scene: a slowly drifting seeded colour gradient with two boxes
    moving at (vx, vy) pixels per second (wrapping around). Different seeds look different."""
    rng = np.random.default_rng(seed)
    colors = [f"0x{rng.integers(0, 2**24):06x}" for _ in range(4)]
    boxes = []
    for k, (bw, bh) in enumerate(((0.22, 0.3), (0.12, 0.18))):
        x0, y0 = rng.uniform(0, 1, 2)
        sx, sy = vx * (1 + 0.5 * k), vy * (1 + 0.5 * k)
        boxes.append(f"drawbox=x='mod({x0:.3f}*iw+{sx}*t,iw)':y='mod({y0:.3f}*ih+{sy}*t,ih)':"
                     f"w=iw*{bw}:h=ih*{bh}:color={colors[2 + k]}:t=fill")
    return (f"gradients=size={{w}}x{{h}}:rate={{r}}:duration={{d}}:speed=0.004:seed={seed}:"
            f"c0={colors[0]}:c1={colors[1]}:nb_colors=2," + ",".join(boxes))


def make_video(path: str | Path, *, pattern: str = "testsrc2", seconds: float = 4.0, width: int = 320,
               height: int = 240, fps: float = 25, audio: bool = False, crf: int = 28) -> Path:
    """Write an H.264 mp4 of a moving lavfi pattern, or of scene_spec(N) for pattern 'sceneN'
    (with a sine tone when audio=True)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    template = scene_spec(int(pattern.removeprefix("scene"))) if pattern.startswith("scene") else PATTERNS[pattern]
    spec = template.format(w=width, h=height, r=fps, d=seconds)
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
