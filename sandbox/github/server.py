"""The HTTP side: a threaded HTTP/1.1 server (keep-alive, as PyGithub's connection pool expects)."""

from __future__ import annotations

from sandbox.github.api import Api
from sandbox.hosting.server import ApiHandler
from sandbox.httpserver import Server


class _Handler(ApiHandler):
    server_version = "GitHub.com"
    json_type = "application/json; charset=utf-8"


class StandInServer(Server[Api]):
    """A ThreadingHTTPServer that hands every request to one `Api` (`GitHubStandIn.requests` is the log)."""

    handler = _Handler
