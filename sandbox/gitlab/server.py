"""The HTTP side: a threaded HTTP/1.1 server (keep-alive, as python-gitlab's requests session expects)."""

from __future__ import annotations

from sandbox.gitlab.api import Api
from sandbox.hosting.server import ApiHandler
from sandbox.httpserver import Server

AUTH_HEADERS = ("PRIVATE-TOKEN", "Authorization")


class _Handler(ApiHandler):
    server_version = "nginx"

    def credentials(self) -> dict[str, str]:
        return {name: value for name in AUTH_HEADERS if (value := self.headers.get(name)) is not None}


class StandInServer(Server[Api]):
    """A ThreadingHTTPServer that hands every request to one `Api` (`GitLabStandIn.requests` is the log)."""

    handler = _Handler
