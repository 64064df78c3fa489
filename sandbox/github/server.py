"""The HTTP side: a threaded HTTP/1.1 server (keep-alive, as PyGithub's connection pool expects)."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sandbox.github.api import Api
from sandbox.github.routing import Reply


class StandInServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that hands every request to one `Api`."""

    daemon_threads = True  # idle keep-alive connections must not keep the process (or stop()) waiting

    def __init__(self, address: tuple[str, int], api: Api) -> None:
        super().__init__(address, _Handler)
        self.api = api

    @property
    def address(self) -> str:
        host, port = self.server_address[:2]
        return f"{host!s}:{port}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GitHub.com"
    sys_version = ""
    server: StandInServer

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _serve(self) -> None:
        # Always read the whole body, even when answering a fault: keep-alive depends on it.
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        host = self.headers.get("Host") or self.server.address
        reply = self.server.api.handle(self.command, self.path, self.headers.get("Authorization"), raw, host)
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        body, content_type = _encode(reply)
        self.send_response(reply.status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Silent: `GitHubStandIn.requests` is the log."""


def _encode(reply: Reply) -> tuple[bytes, str | None]:
    if reply.body is None:
        return b"", None
    if isinstance(reply.body, str):
        return reply.body.encode(), "text/plain; charset=utf-8"
    return json.dumps(reply.body).encode(), "application/json; charset=utf-8"
