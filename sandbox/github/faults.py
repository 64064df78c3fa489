"""Injected failures: answer a matching request with a chosen status, before or after doing the work.

`when="before"` is a failure on the way in (nothing happened); `when="after"` is the
nasty one, a failure on the way out: the change is made (PR created, branch merged,
webhooks sent) and the client still sees an error, as when a proxy times out.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from sandbox import faultbook
from sandbox.github.errors import DOCS
from sandbox.github.routing import Reply

WHEN = ("before", "after")
RATE_LIMIT_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"


@dataclass
class Fault:
    """Answer `status` to requests whose method is `method` and whose path (prefix stripped) `re.search`es `path`.

    `times` is how many requests it hits (None: every one); `hits` counts them.
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
        """The response this fault answers (GitHub-ish JSON message unless `body` is given)."""
        default = {"message": HTTPStatus(self.status).phrase, "documentation_url": DOCS}
        return Reply(self.status, self.body if self.body is not None else default, dict(self.headers))

    def as_json(self) -> dict[str, Any]:
        keys = ("id", "method", "path", "status", "times", "when", "headers", "body", "hits")
        return {key: getattr(self, key) for key in keys}


class FaultBook(faultbook.FaultBook[Fault]):
    """The active faults; the first one that matches `(method, path)` and has hits left answers."""


def fault_from_json(data: dict[str, Any]) -> Fault:
    """A Fault from the `POST /_sandbox/faults` body (same field names as `GitHubStandIn.inject`)."""
    allowed = ("method", "path", "status", "times", "when", "headers", "body")
    return Fault(**{key: data[key] for key in allowed if key in data})


def rate_limit(method: str, path: str, retry_after: int, times: int = 1) -> Fault:
    """GitHub's primary rate-limit answer: 403, `Retry-After`, `X-RateLimit-Remaining: 0`, its message."""
    headers = {
        "Retry-After": str(retry_after),
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(int(time.time()) + retry_after),
    }
    body = {"message": "API rate limit exceeded for user ID 1.", "documentation_url": RATE_LIMIT_DOCS}
    return Fault(method, path, 403, times=times, headers=headers, body=body)


def secondary_rate_limit(method: str, path: str, retry_after: int | None = None, times: int = 1) -> Fault:
    """GitHub's secondary (abuse) rate-limit answer: 403 with its message, `Retry-After` only if given."""
    message = (
        "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
        "If you reach out to GitHub Support for help, please include the request ID sandbox."
    )
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return Fault(method, path, 403, times=times, headers=headers, body={"message": message, "documentation_url": DOCS})
