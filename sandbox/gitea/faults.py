"""Injected failures: answer a matching request with a chosen status, before or after doing the work.

`when="before"` is a failure on the way in (nothing happened); `when="after"` is the
nasty one, a failure on the way out: the change is made (PR created, branch merged,
webhooks sent) and the client still sees an error, as when a proxy times out. Gitea has
no API rate limit of its own; the 429 with `Retry-After` is what a reverse proxy in
front of it (or Codeberg's) answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from sandbox import faultbook
from sandbox.gitea.routing import Reply, Urls

WHEN = ("before", "after")


@dataclass
class Fault:
    """Answer `status` to requests whose method is `method` and whose path (no `/api/v1`, no query)
    `re.search`es `path`. `times` is how many requests it hits (None: every one); `hits` counts them."""

    method: str
    path: str
    status: int
    times: int | None = 1
    when: str = "before"
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    hits: int = 0
    id: int = 0

    def __post_init__(self) -> None:
        if self.when not in WHEN:
            raise ValueError(f"when must be one of {WHEN}, not {self.when!r}")
        self._pattern = re.compile(self.path)
        self.method = self.method.upper()

    def matches(self, method: str, path: str) -> bool:
        return self.method in (method, "*") and self._pattern.search(path) is not None

    def reply(self, urls: Urls) -> Reply:
        """The response this fault answers (a Gitea-shaped message unless `body` is given)."""
        default = {"message": HTTPStatus(self.status).phrase, "url": urls.swagger}
        return Reply(self.status, self.body if self.body is not None else default, dict(self.headers))

    def as_json(self) -> dict[str, Any]:
        keys = ("id", "method", "path", "status", "times", "when", "headers", "body", "hits")
        return {key: getattr(self, key) for key in keys}


class FaultBook(faultbook.FaultBook[Fault]):
    """The active faults; the first one that matches `(method, path)` and has hits left answers."""


def fault_from_json(data: dict[str, Any]) -> Fault:
    """A Fault from the `POST /_sandbox/faults` body (same field names as `GiteaStandIn.inject`)."""
    allowed = ("method", "path", "status", "times", "when", "headers", "body")
    return Fault(**{key: data[key] for key in allowed if key in data})


def rate_limit(method: str, path: str, retry_after: int, times: int = 1) -> Fault:
    """429 Too Many Requests with `Retry-After` (seconds), before any work is done."""
    headers = {"Retry-After": str(retry_after)}
    return Fault(method, path, 429, times=times, headers=headers, body={"message": "Too Many Requests"})
