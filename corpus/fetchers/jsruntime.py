"""yt-dlp's JavaScript side: since yt-dlp 2025.11, YouTube's formats are found only by running
YouTube's player scripts (the EJS solver scripts, from the yt-dlp-ejs package) in a JavaScript
runtime. vmae installs deno from the package index and hands yt-dlp its path, so that the
runtime is found whatever PATH the user (or a Ray worker, or cron) has."""

from __future__ import annotations

import shutil
from dataclasses import dataclass


def deno_path() -> str | None:
    """The deno binary the `deno` package installed, else one on PATH; None when there is none."""
    try:
        import deno

        return deno.find_deno_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("deno")


def js_runtimes() -> dict:
    """yt-dlp's `js_runtimes` option: deno at its full path. Without deno, yt-dlp's own default
    (which looks on PATH) stays, and `vmae doctor` says what is missing."""
    path = deno_path()
    return {"deno": {"path": path}} if path else {"deno": {}}


@dataclass(frozen=True)
class JsSupport:
    runtime: str | None  # "deno 2.9.8 at /…/bin/deno", or None when yt-dlp finds none
    ejs: str | None  # the yt-dlp-ejs version, or None when the package is missing

    @property
    def ok(self) -> bool:
        return self.runtime is not None and self.ejs is not None


def js_support() -> JsSupport:
    """What yt-dlp itself finds with the options vmae gives it (asked of yt-dlp, not guessed)."""
    import yt_dlp
    from yt_dlp.dependencies import yt_dlp_ejs

    with yt_dlp.YoutubeDL({"quiet": True, "js_runtimes": js_runtimes()}) as ydl:
        # _js_runtimes is how yt-dlp's own --verbose lists them; no public accessor exists yet
        runtimes = getattr(ydl, "_js_runtimes", {})
        found = [r.info for r in runtimes.values() if r is not None and r.info is not None]
    usable = [i for i in found if i.supported]
    runtime = f"{usable[0].name} {usable[0].version} at {usable[0].path}" if usable else None
    return JsSupport(runtime, getattr(yt_dlp_ejs, "version", "unknown") if yt_dlp_ejs else None)
