"""The HTTP side: a threaded HTTP/1.1 server (keep-alive for urllib3's pool, chunked watch streams)."""

from __future__ import annotations

import json

from sandbox.httpserver import Handler, Server
from sandbox.kube.api import Api, Stream

GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)  # the client hung up


class _Handler(Handler):
    server_version = "kube-apiserver-standin"
    server: Server[Api]

    def answer(self) -> None:
        self.read_body()  # the stand-in ignores it, but keep-alive depends on reading it
        answer = self.server.api.handle(self.command, self.path, self.headers.get("Authorization"), self.host)
        try:
            if isinstance(answer, Stream):
                self._stream(answer)
            else:
                self.send_reply(answer.status, answer.headers, answer.body)
        except GONE:
            self.close_connection = True

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


class KubeServer(Server[Api]):
    """A ThreadingHTTPServer that hands every request to one `Api` (`KubeStandIn.calls` is the log)."""

    handler = _Handler
