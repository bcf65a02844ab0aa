"""A real HTTP server on 127.0.0.1 that serves test videos and misbehaves on request:

    /status/<code>/...   answers with that status code
    /slow/<file>         sends headers, then stalls longer than any test timeout
    /cut/<file>          promises the whole file, sends half, closes (truncated response)
    /flaky/<n>/<file>    fails with 503 on the first n requests for that file, then serves it
    /trickle/<file>      promises the whole file, then sends one byte every 0.1 s (never stalls)
    /badlength/<file>    serves the file with a Content-Length that is not a number
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

from corpus.localserve import QuietHandler

STALL_SECONDS = 8
TRICKLE_SECONDS = 60  # a trickle ends by itself after this, whether or not the client gave up


class FaultyHandler(QuietHandler):
    hits: Counter = Counter()
    lock = threading.Lock()

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        parts = self.path.lstrip("/").split("/")
        if parts[0] == "status":
            self.send_error(int(parts[1]))
        elif parts[0] == "slow":
            self._head(parts[-1])
            time.sleep(STALL_SECONDS)
        elif parts[0] == "cut":
            data = self._head(parts[-1])
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
        elif parts[0] == "trickle":
            data = self._head(parts[-1])
            for k in range(int(TRICKLE_SECONDS / 0.1)):
                time.sleep(0.1)
                try:
                    self.wfile.write(data[k:k + 1])
                    self.wfile.flush()
                except OSError:  # the client gave up, as it should
                    return
        elif parts[0] == "badlength":
            data = (Path(self.directory) / parts[-1]).read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", "a lot")
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = True
        elif parts[0] == "flaky":
            with self.lock:
                self.hits[self.path] += 1
                failing = self.hits[self.path] <= int(parts[1])
            if failing:
                self.send_error(503)
            else:
                self.path = "/" + parts[-1]
                super().do_GET()
        else:
            super().do_GET()

    def do_HEAD(self) -> None:  # noqa: N802
        if self.path.lstrip("/").split("/")[0] in ("status", "slow", "cut", "flaky", "trickle", "badlength"):
            self.send_error(405)
        else:
            super().do_HEAD()

    def _head(self, name: str) -> bytes:
        data = (Path(self.directory) / name).read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        return data
