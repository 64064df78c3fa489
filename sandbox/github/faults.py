"""GitHub's injected failures: its error body, and its primary and secondary rate-limit answers.

How faults match and when they strike (before or after the work) is `sandbox.hosting.faults`.
"""

from __future__ import annotations

import time
from http import HTTPStatus
from typing import Any

from sandbox.github.errors import DOCS
from sandbox.hosting import faults

RATE_LIMIT_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"


class Fault(faults.Fault):
    """A fault answering, unless given a `body`, GitHub's JSON message for its status."""

    def default_body(self, request: Any) -> Any:
        return {"message": HTTPStatus(self.status).phrase, "documentation_url": DOCS}


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
