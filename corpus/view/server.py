"""`vmae corpus view`: a read-only web app over corpus folders, served by the standard library's
threading HTTP server (one local user; no framework earns its place for that).

URLs name a corpus by its place on the command line and a clip by its key, looked up in the
corpus' clips/ table; no part of a URL is ever joined to a path. Media comes from the shard the
table names, once that resolves inside the corpus folder (corpus/view/media.py).

There is no login, so the viewer answers only requests addressed to it by name: the Host header
must be 127.0.0.1, localhost or [::1] with its port (or the --host given). A page elsewhere whose
name is re-bound to 127.0.0.1 (DNS rebinding) sends its own name and gets 403. Served on any
other address, every request must also carry the run's token: the URL the command prints holds
it once (?token=…), and the browser keeps it as a cookie."""

from __future__ import annotations

import os
import secrets
import sys
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from corpus.view import pages
from corpus.view.catalog import VIEWS, Corpus, Database, Query, load
from corpus.view.media import Members, NotServed, parse_range, read_range, sheet

MAX_QUERY = 4096  # characters of a URL's query: filters are a few short values
LOOPBACK = ("127.0.0.1", "localhost", "::1")
COOKIE = "vmae_view"


def is_loopback(host: str) -> bool:
    return host in LOOPBACK


def _named(host: str, port: int) -> str:
    """host:port as a Host header writes it (an IPv6 address in brackets), lower case."""
    return (f"[{host}]" if ":" in host else host).lower() + f":{port}"


def _number(part: str) -> int:
    """A URL part that must be a plain decimal number ('²'.isdigit() holds, int('²') fails)."""
    if not (part.isascii() and part.isdigit()):
        raise NotServed(part)
    return int(part)


class Viewer:
    """What every request reads: the corpora (loaded once), their shards' member tables, and
    the contact-sheet cache."""

    def __init__(self, roots: list[str | Path], cache: Path, token: str | None = None) -> None:
        self.db = Database()
        self.corpora = [load(i, r, self.db) for i, r in enumerate(roots)]
        self.by_root = {os.path.realpath(c.root): c for c in self.corpora}
        self.members = Members()
        self.cache = Path(cache)
        self.token = token  # required of every request when served beyond this machine
        self.hosts: frozenset[str] = frozenset()  # the Host headers answered; set once the port is known

    def corpus(self, part: str) -> Corpus:
        at = _number(part)
        if at >= len(self.corpora):
            raise NotServed(part)
        return self.corpora[at]

    def find(self, folder, key) -> tuple[Corpus, object] | None:
        """A clip named in a dedup verdict, when its corpus is one of those shown."""
        named = isinstance(folder, str) and "\0" not in folder
        corpus = self.by_root.get(os.path.realpath(folder)) if named else None
        clip = corpus.clip(str(key)) if corpus is not None else None
        return (corpus, clip) if clip is not None else None


class Handler(BaseHTTPRequestHandler):
    viewer: Viewer  # set on the class made for each server
    server_version = "vmae-view"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the standard library's name)
        if os.environ.get("VMAE_VIEW_LOG"):
            super().log_message(format, *args)

    def do_HEAD(self) -> None:  # noqa: N802 (the standard library's name)
        self._answer(head=True)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(head=False)

    def _answer(self, head: bool) -> None:
        url = urlsplit(self.path)
        try:
            if len(url.query) > MAX_QUERY:
                raise NotServed("query too long")
            params = dict(parse_qsl(url.query, keep_blank_values=True))
            if self._admitted(url.path, params, head):
                self._route([unquote(p) for p in url.path.split("/")[1:]], params, head)
        except NotServed:
            self._html(HTTPStatus.NOT_FOUND, pages.not_found(self.viewer.corpora), head)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser went away (it does so while seeking a video)
        except Exception as e:  # noqa: BLE001 (a table from elsewhere may hold what no page expects)
            # repr: the path and the message may hold a table's text, escape sequences included
            print(f"vmae corpus view: {self.path[:200]!r} failed: {type(e).__name__}: {str(e)[:300]!r}",
                  file=sys.stderr)
            self._html(HTTPStatus.INTERNAL_SERVER_ERROR, pages.cannot_show(self.viewer.corpora), head)

    def _admitted(self, path: str, params: dict[str, str], head: bool) -> bool:
        """Whether the request may be answered: addressed to this viewer by name and, when it is
        served beyond this machine, carrying the run's token (answered with 403 otherwise). A URL
        with the token sets the cookie and sends the browser on without it."""
        v = self.viewer
        host = (self.headers.get("Host") or "").strip().lower()
        if v.hosts and host not in v.hosts:
            return self._refuse(head, "this viewer answers only requests addressed to it as "
                                      + " or ".join(sorted(v.hosts)))
        if v.token is None:
            return True
        if secrets.compare_digest(params.pop("token", ""), v.token):
            self.send_response(HTTPStatus.SEE_OTHER)
            self.send_header("Set-Cookie", f"{COOKIE}={v.token}; Path=/; HttpOnly; SameSite=Strict")
            self.send_header("Location", path + (f"?{urlencode(params)}" if params else ""))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return False
        try:
            cookie = SimpleCookie(self.headers.get("Cookie") or "").get(COOKIE)
        except CookieError:
            cookie = None
        if cookie is None or not secrets.compare_digest(cookie.value, v.token):
            return self._refuse(head, "open the URL `vmae corpus view` printed (it holds this run's token)")
        return True

    def _refuse(self, head: bool, why: str) -> bool:
        data = f"403 Forbidden: {why}\n".encode()
        self.send_response(HTTPStatus.FORBIDDEN)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head:
            self.wfile.write(data)
        return False

    def _route(self, parts: list[str], params: dict[str, str], head: bool) -> None:
        v = self.viewer
        if parts in ([""], []):
            return self._html(HTTPStatus.OK, pages.index(v.corpora), head)
        if len(parts) < 3 or parts[0] != "c":
            raise NotServed("/".join(parts))
        corpus, what, rest = v.corpus(parts[1]), parts[2], parts[3:]
        if what in VIEWS and not rest:
            q = Query.parse(VIEWS[what], params)
            page = corpus.query(q)
            render = {"clips": pages.clips_page, "rows": pages.rows_page, "rejects": pages.rejects_page}.get(what)
            body = (pages.dedup_page(v.corpora, corpus, q, page, v.find) if what == "dedup"
                    else render(v.corpora, corpus, q, page))
            return self._html(HTTPStatus.OK, body, head)
        if what == "reject" and len(rest) == 1:
            preview = corpus.reject_preview(_number(rest[0]))
            if preview is None:
                raise NotServed(rest[0])
            return self._bytes(preview, "image/jpeg", head)
        if what == "mix" and not rest and corpus.mix:
            return self._html(HTTPStatus.OK, pages.mix_page(v.corpora, corpus), head)
        if what in ("clip", "media", "sheet") and len(rest) == 1:
            clip = corpus.clip(rest[0])
            if clip is None or not isinstance(clip["shard"], str):
                raise NotServed(rest[0])
            if what == "clip":
                return self._html(HTTPStatus.OK, pages.clip_page(v.corpora, corpus, clip), head)
            located = v.members.locate(corpus.root, clip["shard"], str(clip["clip_key"]), clip["media"])
            if what == "media":
                return self._media(located, head)
            identity = f"{os.path.realpath(corpus.root)}\0{clip['clip_key']}"
            picture = sheet(located, clip["duration_s"], v.cache, identity)
            return self._file(picture, "image/jpeg", head)
        raise NotServed("/".join(parts))

    def _html(self, status: HTTPStatus, body: str, head: bool) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def _file(self, path: Path, content_type: str, head: bool) -> None:
        self._bytes(path.read_bytes(), content_type, head)  # a contact sheet: a few KB

    def _bytes(self, data: bytes, content_type: str, head: bool) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "max-age=3600")
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def _media(self, located, head: bool) -> None:
        size = located.member.size
        try:
            wanted = parse_range(self.headers.get("Range"), size)
        except ValueError:
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        first, last = wanted or (0, size - 1)
        self.send_response(HTTPStatus.PARTIAL_CONTENT if wanted else HTTPStatus.OK)
        self.send_header("Content-Type", located.content_type)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(last - first + 1))
        if wanted:
            self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        self.end_headers()
        if not head and size:
            for piece in read_range(located, first, last):
                self.wfile.write(piece)


class _Server(ThreadingHTTPServer):
    """Closing it also removes the viewer's database (a copy of the shown columns)."""

    def server_close(self) -> None:
        super().server_close()
        self.RequestHandlerClass.viewer.db.close()


def serve(roots: list[str | Path], host: str = "127.0.0.1", port: int = 8765, cache: Path | None = None
          ) -> ThreadingHTTPServer:
    """A server for the corpora (not yet serving: call serve_forever, or run it in a thread). On a
    loopback address it answers the loopback names; on another it also needs `server.token`."""
    cache = cache or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vmae" / "view"
    viewer = Viewer(roots, cache, None if is_loopback(host) else secrets.token_urlsafe(16))
    handler = type("BoundHandler", (Handler,), {"viewer": viewer})
    server = _Server((host, port), handler)
    server.daemon_threads = True
    bound = server.server_address[1]
    # on every interface (0.0.0.0, ::) the machine's names are not known: the token alone guards it
    if host not in ("0.0.0.0", "::"):
        viewer.hosts = frozenset(_named(h, bound) for h in {*LOOPBACK, host})
    server.token = viewer.token
    return server


def warn_if_exposed(host: str) -> None:
    if not is_loopback(host):
        print(f"warning: serving on {host}: anyone who can reach this machine and has the URL below (its token) can "
              f"read these corpora's clips and tables; 127.0.0.1 keeps them to this machine", file=sys.stderr)
