"""Injected failures: answer a matching request with a chosen status, before or after doing the work.

`when="before"` is a failure on the way in (nothing happened); `when="after"` is the
nasty one, a failure on the way out: the change is made (pull request created, branch
merged, webhooks sent) and the client still sees an error, as when a proxy times out.
Each host subclasses `Fault` for its default error body and its rate-limit answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Self

from sandbox.hosting.routing import Reply

WHEN = ("before", "after")
FIELDS = ("method", "path", "status", "times", "when", "headers", "body")  # what a stand-in's `inject` takes


@dataclass
class Fault:
    """Answer `status` to requests whose method is `method` and whose API path (no prefix, no query)
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

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        """A fault from the `POST /_sandbox/faults` body (the field names of the stand-in's `inject`)."""
        return cls(**{key: data[key] for key in FIELDS if key in data})

    def matches(self, method: str, path: str) -> bool:
        return self.method in (method, "*") and self._pattern.search(path) is not None

    def reply(self, request: Any) -> Reply:
        """The response this fault answers to `request`: its `body`, or the host's error body for `status`."""
        body = self.body if self.body is not None else self.default_body(request)
        return Reply(self.status, body, dict(self.headers))

    def default_body(self, request: Any) -> Any:
        """The host's error body for `status` (`request` is the host's Request, for URLs in the body)."""
        raise NotImplementedError

    def as_json(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in ("id", *FIELDS, "hits")}
