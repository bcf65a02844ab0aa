"""`vmae doctor`: what works on this machine, and what to do about what does not. Each check is
one small function returning a Check; the heavy libraries (torch, torchcodec, decord) are
imported inside their checks only, and Ray and transformers are looked up, not imported."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

OK, WARN, FAIL = "ok", "warn", "fail"
ENCODERS = ("libx264",)  # what vmae's clips need; aac only with --keep-audio
MIN_FREE_BYTES = 10 * 1024**3


@dataclass
class Check:
    name: str
    state: str  # ok | warn (works without it, or less well) | fail (a command needs it)
    detail: str
    fix: str | None = None
    needed_by: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _run(argv: list[str]) -> str | None:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def check_ffmpeg() -> list[Check]:
    fix = "install ffmpeg: 'sudo apt-get install ffmpeg' (Debian/Ubuntu), 'brew install ffmpeg' (macOS)"
    found = []
    for tool in ("ffmpeg", "ffprobe"):
        out = _run([tool, "-hide_banner", "-version"])
        version = re.search(r"version (\S+)", out or "")
        found.append(Check(tool, OK, f"{version.group(1) if version else '?'} at {shutil.which(tool)}") if out else
                     Check(tool, FAIL, "not found on PATH", fix, "corpus build (probe, cut, encode)"))
    if found[0].state == OK:
        encoders = _run(["ffmpeg", "-hide_banner", "-encoders"]) or ""
        missing = [e for e in ENCODERS if not re.search(rf"\s{e}\s", encoders)]
        found.append(Check("ffmpeg encoders", FAIL if missing else OK,
                           f"missing {', '.join(missing)}" if missing else ", ".join(ENCODERS) +
                           (", aac" if re.search(r"\saac\s", encoders) else " (no aac: --keep-audio will fail)"),
                           "install an ffmpeg built with libx264 (the distribution packages are)" if missing else None,
                           "corpus build" if missing else None))
    return found


def check_ytdlp() -> list[Check]:
    version = _version("yt-dlp")
    if version is None:
        return [Check("yt-dlp", FAIL, "not installed", "pip install 'yt-dlp[default]'", "youtube, kinetics, instagram")]
    from corpus.fetchers.jsruntime import js_support

    js = js_support()
    fix = "pip install -U 'yt-dlp[default]' deno  (vmae's install brings both)"
    needs = "YouTube formats (youtube and kinetics sources)"
    return [Check("yt-dlp", OK, version),
            Check("yt-dlp JS runtime", OK if js.runtime else WARN, js.runtime or "none found",
                  None if js.runtime else fix, None if js.runtime else needs),
            Check("yt-dlp EJS scripts", OK if js.ejs else WARN, js.ejs or "yt-dlp-ejs not installed",
                  None if js.ejs else fix, None if js.ejs else needs)]


def check_torch() -> list[Check]:
    try:
        import torch
    except ImportError:
        return [Check("torch", FAIL, "not installed", "pip install torch", "vmae train, eval, predict, embed")]
    checks = [Check("torch", OK, torch.__version__)]
    if torch.cuda.is_available():
        gpus = [f"{torch.cuda.get_device_name(i)} ({torch.cuda.get_device_properties(i).total_memory / 2**30:.0f} GiB)"
                for i in range(torch.cuda.device_count())]
        checks.append(Check("cuda", OK, f"CUDA {torch.version.cuda}: {len(gpus)} GPU(s): {'; '.join(gpus)}"))
    else:
        checks.append(Check("cuda", WARN, f"no GPU visible (torch built for CUDA {torch.version.cuda or 'none'})",
                            "training runs on the CPU, slowly; check the driver with nvidia-smi", None))
    return checks


def _sample_video(folder: Path) -> Path | None:
    path = folder / "probe.mp4"
    made = _run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                 "testsrc2=size=128x96:rate=10:duration=1", "-pix_fmt", "yuv420p", "-c:v", "libx264", str(path)])
    return path if made is not None and path.is_file() else None


def check_decoders() -> list[Check]:
    """torchcodec (CPU, and CUDA where a GPU is) and decord, each decoding a real one-second clip."""
    with tempfile.TemporaryDirectory() as tmp:
        video = _sample_video(Path(tmp))
        if video is None:
            return [Check("decoders", WARN, "not tried: ffmpeg could not make a test clip")]
        checks = [_decode_check("torchcodec", lambda: _torchcodec_frames(video, "cpu"))]
        import torch

        if torch.cuda.is_available():
            checks.append(_decode_check("torchcodec cuda", lambda: _torchcodec_frames(video, "cuda")))
        checks.append(_decode_check("decord", lambda: len(__import__("decord").VideoReader(str(video)))))
    if all(c.state != OK for c in checks if c.name in ("torchcodec", "decord")):
        checks.append(Check("video decoding", FAIL, "neither torchcodec nor decord decodes",
                            "pip install torchcodec (it needs ffmpeg's shared libraries)", "vmae train, eval"))
    return checks


def _torchcodec_frames(video: Path, device: str) -> int:
    from torchcodec.decoders import VideoDecoder

    return len(VideoDecoder(str(video), device=device))


def _decode_check(name: str, decode: Callable[[], int]) -> Check:
    try:
        frames = decode()
    except Exception as e:  # noqa: BLE001 - any failure of a decoder is what the check reports
        return Check(name, WARN, f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}",
                     f"--decoder {name.split()[0]} will not work here")
    package = name.split()[0]
    return Check(name, OK, f"{_version(package) or '?'}: decoded {frames} frames of a test clip")


def check_packages() -> list[Check]:
    checks = []
    pillow = _version("pillow")
    if pillow:
        from PIL import features

        formats = [f for f in ("jpg", "webp", "libtiff") if features.check(f)]
        checks.append(Check("Pillow", OK, f"{pillow} ({', '.join(formats)})"))
    else:
        checks.append(Check("Pillow", FAIL, "not installed", "pip install pillow", "the images source"))
    for package, purpose in (("ray", "--executor ray"), ("transformers", "vmae export --format transformers")):
        version = _version(package)
        checks.append(Check(package, OK if version else WARN, version or "not installed",
                            None if version else f"pip install 'vmae[{'ray' if package == 'ray' else 'hf'}]'",
                            None if version else purpose))
    return checks


def check_space(folder: Path) -> list[Check]:
    target = folder if folder.exists() else next((p for p in folder.parents if p.exists()), Path("/"))
    free = shutil.disk_usage(target).free
    return [Check("free space", OK if free >= MIN_FREE_BYTES else WARN, f"{free / 1024**3:,.1f} GiB free at {target}",
                  None if free >= MIN_FREE_BYTES else "corpora need room: a 1.35M-clip hybrid takes about 4 TB")]


def diagnose(folder: Path) -> list[Check]:
    python = Check("python", OK, sys.version.split()[0])
    return [python, *check_ffmpeg(), *check_ytdlp(), *check_torch(), *check_decoders(), *check_packages(),
            *check_space(folder)]
