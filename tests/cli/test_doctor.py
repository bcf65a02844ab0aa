"""`vmae doctor` reports what this machine has, and exits non-zero when what a command needs is
missing (ffmpeg taken off PATH here)."""

import json
import os
import subprocess
import sys

from typer.testing import CliRunner

from cli.main import app

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_doctor_reports_this_machine(tmp_path):
    run = CliRunner().invoke(app, ["doctor", "--json", "--folder", str(tmp_path)])
    assert run.exit_code == 0, run.output
    checks = {c["name"]: c for c in json.loads(run.output)}
    for name in ("ffmpeg", "ffprobe", "ffmpeg encoders", "yt-dlp", "yt-dlp JS runtime", "yt-dlp EJS scripts", "torch",
                 "torchcodec", "decord", "Pillow", "free space"):
        assert checks[name]["state"] == "ok", checks[name]
    assert checks["yt-dlp JS runtime"]["detail"].startswith("deno ")
    assert "decoded 10 frames" in checks["torchcodec"]["detail"]
    assert checks["cuda"]["state"] in ("ok", "warn")  # a GPU or not, the doctor says which


def test_doctor_fails_without_ffmpeg_and_says_what_to_do(tmp_path):
    run = subprocess.run([sys.executable, "-m", "cli.main", "doctor", "--json"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PATH": str(tmp_path)})
    assert run.returncode == 1
    checks = {c["name"]: c for c in json.loads(run.stdout)}
    assert checks["ffmpeg"]["state"] == "fail" and "apt-get install ffmpeg" in checks["ffmpeg"]["fix"]
    assert checks["yt-dlp JS runtime"]["state"] == "ok"  # found without PATH


def test_the_cli_starts_without_torch():
    code = "import sys, cli.main; print(sorted(m for m in ('torch', 'yt_dlp', 'ray') if m in sys.modules))"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.stdout.strip() == "[]", run.stderr
