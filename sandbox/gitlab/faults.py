"""Injected failures: answer a matching request with a chosen status, before or after doing the work.

`when="before"` is a failure on the way in (nothing happened); `when="after"` is the
nasty one, a failure on the way out: the change is made (merge request created, branch
merged, webhooks sent) and the client still sees an error, as when a proxy times out.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

from sandbox import faultbook
from sandbox.gitlab.routing import Reply

WHEN = ("before", "after")
RATE_LIMIT = 2000  # GitLab.com's authenticated API limit per minute
THROTTLED = "Retry later\n"  # the plain-text body GitLab's Rack::Attack answers a throttled request with


@dataclass
class Fault:
    """Answer `status` to requests whose method is `method` and whose path (without /api/v4 and query,
    still URL-encoded) `re.search`es `path`. `times` is how many requests it hits (None: all); `hits` counts them.
    """

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

    def reply(self) -> Reply:
        """The response this fault answers (GitLab's `{"message": "502 Bad Gateway"}` unless `body` is given)."""
        default = {"message": f"{self.status} {HTTPStatus(self.status).phrase}"}
        return Reply(self.status, self.body if self.body is not None else default, dict(self.headers))

    def as_json(self) -> dict[str, Any]:
        keys = ("id", "method", "path", "status", "times", "when", "headers", "body", "hits")
        return {key: getattr(self, key) for key in keys}


class FaultBook(faultbook.FaultBook[Fault]):
    """The active faults; the first one that matches `(method, path)` and has hits left answers."""


def fault_from_json(data: dict[str, Any]) -> Fault:
    """A Fault from the `POST /_sandbox/faults` body (same field names as `GitLabStandIn.inject`)."""
    allowed = ("method", "path", "status", "times", "when", "headers", "body")
    return Fault(**{key: data[key] for key in allowed if key in data})


def rate_limit(method: str, path: str, retry_after: int, times: int = 1) -> Fault:
    """GitLab's throttled answer: 429 "Retry later", `Retry-After` and the `RateLimit-*` headers
    (python-gitlab sleeps `Retry-After`, or until `RateLimit-Reset`, then retries)."""
    reset = int(time.time()) + retry_after
    headers = {
        "Retry-After": str(retry_after),
        "RateLimit-Name": "throttle_authenticated_api",
        "RateLimit-Limit": str(RATE_LIMIT),
        "RateLimit-Observed": str(RATE_LIMIT + 1),
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": str(reset),
        "RateLimit-ResetTime": formatdate(reset, usegmt=True),
    }
    return Fault(method, path, 429, times=times, headers=headers, body=THROTTLED)
