"""GitLab's injected failures: its error body and its throttled (429) answer.

How faults match and when they strike (before or after the work) is `sandbox.hosting.faults`.
"""

from __future__ import annotations

import time
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

from sandbox.hosting import faults

RATE_LIMIT = 2000  # GitLab.com's authenticated API limit per minute
THROTTLED = "Retry later\n"  # the plain-text body GitLab's Rack::Attack answers a throttled request with


class Fault(faults.Fault):
    """A fault answering, unless given a `body`, GitLab's `{"message": "502 Bad Gateway"}`.

    Its `path` is searched in the path without /api/v4 and query, still URL-encoded.
    """

    def default_body(self, request: Any) -> Any:
        return {"message": f"{self.status} {HTTPStatus(self.status).phrase}"}


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
