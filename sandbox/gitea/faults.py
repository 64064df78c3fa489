"""Gitea's injected failures: its error body and a rate-limit answer.

How faults match and when they strike (before or after the work) is `sandbox.hosting.faults`.
Gitea has no API rate limit of its own; the 429 with `Retry-After` is what a reverse proxy in
front of it (or Codeberg's) answers.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from sandbox.hosting import faults


class Fault(faults.Fault):
    """A fault answering, unless given a `body`, a Gitea-shaped message with the server's swagger URL."""

    def default_body(self, request: Any) -> Any:
        return {"message": HTTPStatus(self.status).phrase, "url": request.urls.swagger}


def rate_limit(method: str, path: str, retry_after: int, times: int = 1) -> Fault:
    """429 Too Many Requests with `Retry-After` (seconds), before any work is done."""
    headers = {"Retry-After": str(retry_after)}
    return Fault(method, path, 429, times=times, headers=headers, body={"message": "Too Many Requests"})
