"""The HTTP side: a threaded HTTP/1.1 server (keep-alive, as python-gitlab's requests session expects)."""

from __future__ import annotations

from sandbox.gitlab.api import Api
from sandbox.httpserver import Handler, Server

AUTH_HEADERS = ("PRIVATE-TOKEN", "Authorization")


class _Handler(Handler):
    server_version = "nginx"
    none_is_empty = True
    server: Server[Api]

    def answer(self) -> None:
        # Always read the whole body, even when answering a fault: keep-alive depends on it.
        raw = self.read_body()
        headers = {name: value for name in AUTH_HEADERS if (value := self.headers.get(name)) is not None}
        reply = self.server.api.handle(self.command, self.path, headers, raw, self.host)
        self.send_reply(reply.status, reply.headers, reply.body)


class StandInServer(Server[Api]):
    """A ThreadingHTTPServer that hands every request to one `Api` (`GitLabStandIn.requests` is the log)."""

    handler = _Handler
