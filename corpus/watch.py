"""What the build's process sees in the stream of finished tasks that no single row shows:
yt-dlp's warnings (each distinct one told once), and a set-up fault, the same site refusing row
after row for a reason no row is to blame for (formats missing because YouTube's JavaScript
challenge went unsolved, a bot check on every request, a rate limit that never lifts). Such a
streak stops the build with what to fix; its rows go back to pending, not failed."""

from __future__ import annotations

import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlparse

from corpus.errors import MachineFault
from corpus.steps.base import Task

# (cause, pattern in a failed row's message, what to do). First match wins.
_CAUSES = [
    ("formats", r"Requested format is not available|Only images are available|n challenge|nsig extraction|"
                r"Signature extraction failed|JavaScript runtime|challenge solving failed",
     "yt-dlp could not find the video formats, which on YouTube means its JavaScript challenge went unsolved: "
     "update yt-dlp (pip install -U 'yt-dlp[default]'), and run `vmae doctor` to check the JavaScript runtime "
     "and EJS scripts; pass --extractor-args (player clients, PO tokens) if the site needs them"),
    ("bot_check", r"confirm you.?re not a bot|Sign in to confirm|captcha",
     "the site asks every request to prove it is not a bot: pass cookies of a signed-in browser "
     "(--cookies-from-browser firefox, or --cookies FILE), and slow down (--sleep-requests, fewer --workers)"),
    ("rate_limited", r"HTTP Error 429|Too Many Requests|status 429|\b429\b",
     "the site rate-limits every request: slow down (--sleep-interval, --sleep-requests, fewer --workers), "
     "wait, and rerun"),
]
BACKOFF_CAP_S = 60.0


class SetupFault(MachineFault):
    """A fault of the set-up (the tools, the cookies, the pace), not of the rows it hit."""


def setup_cause(message: str | None) -> tuple[str, str] | None:
    """(cause, what to do) when a failed row's message points at the set-up; None otherwise."""
    for cause, pattern, advice in _CAUSES:
        if message and re.search(pattern, message, re.IGNORECASE):
            return cause, advice
    return None


def site_of(task: Task) -> str | None:
    url = task.rows[0].get("url") if task.rows else None
    return (urlparse(url).hostname or None) if url and task.fetcher != "local" else None


@dataclass
class _Streak:
    cause: str
    rows: list[int] = field(default_factory=list)


@dataclass
class TaskWatch:
    """on_task of a build: warnings once, and set-up streaks per site. `limit` rows of one site
    failing in a row for one set-up cause stop the build; a rate-limit streak first slows the
    build down (growing sleeps in this process, which holds back new tasks)."""

    limit: int = 20
    backoff_s: float = 1.0
    warnings: Counter = field(default_factory=Counter)
    streaks: dict[str, _Streak] = field(default_factory=dict)
    stopped_rows: list[int] = field(default_factory=list)

    def __call__(self, task: Task) -> None:
        for text in task.warnings:
            if text not in self.warnings:
                print(f"warning (yt-dlp): {text}", file=sys.stderr, flush=True)
            self.warnings[text] += 1
        site = site_of(task)
        if site is not None:
            self._follow(site, task)

    def _follow(self, site: str, task: Task) -> None:
        failed = [r for r in task.rows if r["status"] == "failed"]
        found = setup_cause(failed[0]["error"]) if failed and len(failed) == len(task.rows) else None
        if found is None:  # the site served this task, or failed it for a reason of its own
            self.streaks.pop(site, None)
            return
        streak = self.streaks.get(site)
        if streak is None or streak.cause != found[0]:
            streak = self.streaks[site] = _Streak(found[0])
        streak.rows += [r["row"] for r in failed]
        if len(streak.rows) >= self.limit:
            self.stopped_rows = list(streak.rows)
            raise SetupFault(f"{len(streak.rows)} rows of {site} in a row failed the same way ({streak.cause}: "
                             f"{failed[0]['error'][:200]}). This is the set-up, not the videos: {found[1]}. "
                             "Those rows are left pending; rerun the same command once it is fixed")
        if streak.cause == "rate_limited":
            time.sleep(min(BACKOFF_CAP_S, self.backoff_s * 2 ** (len(streak.rows) - 1)))
