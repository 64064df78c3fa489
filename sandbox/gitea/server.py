"""The HTTP side: a threaded HTTP/1.1 server (keep-alive, as `requests` sessions expect)."""

from __future__ import annotations

from sandbox.gitea.api import Api
from sandbox.httpserver import Handler, Server


class _Handler(Handler):
    json_type = "application/json;charset=utf-8"
    none_is_empty = True  # Gitea's 200/204 without a body (a merge, "is merged")
    server: Server[Api]

    def answer(self) -> None:
        # Always read the whole body, even when answering a fault: keep-alive depends on it.
        raw = self.read_body()
        reply = self.server.api.handle(self.command, self.path, self.headers.get("Authorization"), raw, self.host)
        self.send_reply(reply.status, reply.headers, reply.body)


class StandInServer(Server[Api]):
    """A ThreadingHTTPServer that hands every request to one `Api` (`GiteaStandIn.requests` is the log)."""

    handler = _Handler
