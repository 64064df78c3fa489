"""The HTTP side: a threaded HTTP/1.1 server (keep-alive, as `requests` sessions expect)."""

from __future__ import annotations

from sandbox.gitea.api import Api
from sandbox.hosting.server import ApiHandler
from sandbox.httpserver import Server


class _Handler(ApiHandler):
    json_type = "application/json;charset=utf-8"


class StandInServer(Server[Api]):
    """A ThreadingHTTPServer that hands every request to one `Api` (`GiteaStandIn.requests` is the log)."""

    handler = _Handler
