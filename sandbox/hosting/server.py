"""The HTTP side of a Git host stand-in: every request, its body read in full, to the host's `Api.handle`."""

from __future__ import annotations

from typing import Any

from sandbox.hosting.pipeline import Pipeline
from sandbox.httpserver import Handler, Server


class ApiHandler(Handler):
    """Hands `Api.handle` the method, target, credentials, body and Host; sends its `Reply`.

    A host sets `server_version` and `json_type` as it answers, and overrides `credentials()`
    when it authenticates with more than the `Authorization` header.
    """

    none_is_empty = True  # the hosts' 204s (and Gitea's bodiless 200s) carry no body
    server: Server[Pipeline[Any]]

    def answer(self) -> None:
        # Always read the whole body, even when answering a fault: keep-alive depends on it.
        raw = self.read_body()
        reply = self.server.api.handle(self.command, self.path, self.credentials(), raw, self.host)
        self.send_reply(reply.status, reply.headers, reply.body)

    def credentials(self) -> Any:
        """What the host authenticates with: the `Authorization` header (None when absent)."""
        return self.headers.get("Authorization")
