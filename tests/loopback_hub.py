"""A stand-in for the Hugging Face hub on 127.0.0.1, for download tests that never touch the internet.

Serves ``/{repo}/resolve/{revision}/{filename}`` like the hub: small files directly (``ETag`` = git blob
sha1), "LFS" files with a 302 to ``/cdn/<sha256>`` carrying ``X-Linked-Etag`` / ``X-Linked-Size``.
Knobs: ``cut_after`` (drop the connection after N body bytes, ``cuts`` times), ``corrupt`` (flip
bytes), ``ignore_range`` (answer 200 to Range requests). Every request is recorded.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Served:
    data: bytes
    lfs: bool = True  # redirect to the CDN with X-Linked-Etag, like the hub does for Git-LFS files
    publish_checksum: bool = True

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def git_sha1(self) -> str:
        return hashlib.sha1(b"blob %d\0" % len(self.data) + self.data).hexdigest()


@dataclass
class Request:
    path: str
    range: str | None


@dataclass
class HubState:
    files: dict[str, Served] = field(default_factory=dict)  # "repo/filename" → file (revision ignored)
    requests: list[Request] = field(default_factory=list)
    cut_after: int | None = None
    cuts: int = 1
    corrupt: bool = False
    ignore_range: bool = False

    def add(self, repo: str, filename: str, data: bytes, *, lfs: bool = True, publish: bool = True) -> Served:
        served = Served(data, lfs=lfs, publish_checksum=publish)
        self.files[f"{repo}/{filename}"] = served
        return served

    def body_requests(self) -> list[Request]:
        """The requests that fetched bytes (CDN ones, and direct ones for small files)."""
        return [r for r in self.requests if r.path.startswith("/cdn/") or not self._is_lfs(r.path)]

    def _is_lfs(self, path: str) -> bool:
        served = self.lookup(path)
        return bool(served and served.lfs)

    def lookup(self, path: str) -> Served | None:
        parts = path.lstrip("/").split("/")
        if len(parts) >= 5 and parts[2] == "resolve":
            return self.files.get(f"{parts[0]}/{parts[1]}/{'/'.join(parts[4:])}")
        return None


def _handler(state: HubState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            state.requests.append(Request(self.path, self.headers.get("Range")))
            if self.path.startswith("/cdn/"):
                sha = self.path.rsplit("/", 1)[-1]
                served = next((f for f in state.files.values() if f.sha256 == sha), None)
                if served is None:
                    self.send_error(404)
                    return
                self._send_body(served, etag=None)
                return
            served = state.lookup(self.path)
            if served is None:
                self.send_error(404, "Entry not found")
                return
            if served.lfs:
                self.send_response(302)
                self.send_header("Location", f"/cdn/{served.sha256}")
                if served.publish_checksum:
                    self.send_header("X-Linked-Etag", f'"{served.sha256}"')
                    self.send_header("X-Linked-Size", str(len(served.data)))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._send_body(served, etag=served.git_sha1 if served.publish_checksum else None)

        def _send_body(self, served: Served, etag: str | None) -> None:
            data = served.data
            if state.corrupt:
                data = bytes(b ^ 0xFF for b in data[:64]) + data[64:]
            start = 0
            wanted = self.headers.get("Range")
            if wanted and not state.ignore_range:
                start = int(wanted.split("=", 1)[1].split("-", 1)[0])
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            if etag:
                self.send_header("ETag", f'"{etag}"')
            self.end_headers()
            if state.cut_after is not None and state.cuts > 0 and len(body) > state.cut_after:
                state.cuts -= 1
                self.wfile.write(body[: state.cut_after])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


class LoopbackHub:
    """``with LoopbackHub() as hub: hub.url, hub.state`` — a threaded server on 127.0.0.1:0."""

    def __init__(self) -> None:
        self.state = HubState()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> LoopbackHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def closed_port_url() -> str:
    """A loopback URL on which nothing listens (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
