"""The HTTP side: a threaded HTTP/1.1 server (keep-alive for urllib3's pool, chunked watch streams)."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sandbox.kube.api import Api, Reply, Stream

GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)  # the client hung up


class KubeServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that hands every request to one `Api`."""

    daemon_threads = True  # idle keep-alive connections and open watches must not block stop()

    def __init__(self, address: tuple[str, int], api: Api) -> None:
        super().__init__(address, _Handler)
        self.api = api

    @property
    def address(self) -> str:
        host, port = self.server_address[:2]
        return f"{host!s}:{port}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-apiserver-standin"
    sys_version = ""
    server: KubeServer

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _serve(self) -> None:
        # Read any body, even though the stand-in ignores it: keep-alive depends on it.
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        host = self.headers.get("Host") or self.server.address
        answer = self.server.api.handle(self.command, self.path, self.headers.get("Authorization"), host)
        try:
            if isinstance(answer, Stream):
                self._stream(answer)
            else:
                self._send(answer)
        except GONE:
            self.close_connection = True

    def _send(self, reply: Reply) -> None:
        if isinstance(reply.body, str):
            body, content_type = reply.body.encode(), "text/plain; charset=utf-8"
        else:
            body, content_type = json.dumps(reply.body).encode(), "application/json"
        self.send_response(reply.status)
        self.send_header("Content-Type", content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, stream: Stream) -> None:
        """One chunk per event, so the client's line reader sees each event as it happens."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for event in stream.events:
                line = json.dumps(event).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        finally:
            close = getattr(stream.events, "close", None)
            if close is not None:
                close()

    def log_message(self, format: str, *args: object) -> None:
        """Silent: `KubeStandIn.calls` is the log."""
