"""HTTP plumbing shared by the stand-ins: a threaded HTTP/1.1 server, a handler base, a lifecycle mixin."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Generic, Self, TypeVar

ApiT = TypeVar("ApiT")


class Server(ThreadingHTTPServer, Generic[ApiT]):
    """A ThreadingHTTPServer that hands every request (through `handler`) to one `api`."""

    daemon_threads = True  # idle keep-alive connections and open watches must not keep stop() waiting
    handler: ClassVar[type[Handler]]

    def __init__(self, address: tuple[str, int], api: ApiT) -> None:
        super().__init__(address, self.handler)
        self.api = api

    @property
    def address(self) -> str:
        host, port = self.server_address[:2]
        return f"{host!s}:{port}"


class Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 (keep-alive, as client connection pools expect): every method goes to `answer()`.

    Subclasses implement `answer()`, usually as `read_body()`, the Api, then `send_reply()`.
    """

    protocol_version = "HTTP/1.1"
    sys_version = ""
    json_type = "application/json"  # the Content-Type of a JSON body
    none_is_empty = False  # whether a None body is sent as no body at all (rather than JSON `null`)
    server: Server[Any]

    def do_GET(self) -> None:
        self.answer()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def answer(self) -> None:
        raise NotImplementedError

    def read_body(self) -> bytes:
        """The whole request body: read it even when unused, keep-alive depends on it."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    @property
    def host(self) -> str:
        """The request's Host header, or the server's own address."""
        return self.headers.get("Host") or self.server.address

    def send_reply(self, status: int, headers: dict[str, str], body: Any) -> None:
        """A complete answer with Content-Length: a str body as text, anything else as JSON."""
        data, content_type = self.encode(body)
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def encode(self, body: Any) -> tuple[bytes, str | None]:
        """The bytes and Content-Type (None: no header) that carry `body`."""
        if body is None and self.none_is_empty:
            return b"", None
        if isinstance(body, str):
            return body.encode(), "text/plain; charset=utf-8"
        return json.dumps(body).encode(), self.json_type

    def log_message(self, format: str, *args: object) -> None:
        """Silent: each stand-in keeps its own request log."""


class Serving:
    """Mixin for a stand-in object: one `Server` on `host:port` in a daemon thread, `url`, `with` support.

    The stand-in sets `host` and `port` and writes `start()` around `_serve()` (guarded by `serving`)
    and `stop()` around `_unserve()`, adding what else it starts and stops.
    """

    host: str
    port: int
    _server: Server[Any] | None = None
    _thread: threading.Thread | None = None

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def serving(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`: the server root."""
        return f"http://{self.host}:{self.port}"

    def _serve(self, server: Server[Any], name: str) -> None:
        """Serve `server` in a daemon thread called `name`; `port` becomes the one it bound."""
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
        )
        self._thread.start()

    def _unserve(self) -> None:
        """Shut the server down, close its socket and join its thread; idempotent."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None
