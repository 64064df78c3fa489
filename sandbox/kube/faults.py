"""Injected failures: a status (401/403/404/500…), a delay (a slow or hung API server), or both.

A fault matches one cluster (or every cluster when `cluster` is None), a method and a
regex searched in the path below the cluster prefix (`/apis/apps/v1/namespaces/shop/deployments`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sandbox import faultbook
from sandbox.kube.errors import default_body


@dataclass
class Fault:
    """Delay `delay` seconds, then answer `status` (None: serve normally) to `times` matching requests.

    `times=None` hits every matching request; `hits` counts the ones hit so far.
    """

    cluster: str | None
    method: str = "GET"
    path: str = ""
    status: int | None = None
    times: int | None = 1
    delay: float = 0.0
    body: Any = None
    hits: int = 0
    id: int = 0

    def __post_init__(self) -> None:
        self._pattern = re.compile(self.path)
        self.method = self.method.upper()

    def matches(self, cluster: str, method: str, path: str) -> bool:
        return (
            self.cluster in (None, cluster) and self.method in ("*", method) and self._pattern.search(path) is not None
        )

    def reply_body(self) -> Any:
        """The body to answer with: the given one, or the Status that usually goes with `status`."""
        assert self.status is not None
        return self.body if self.body is not None else default_body(self.status)


class FaultBook(faultbook.FaultBook[Fault]):
    """The active faults; the first that matches `(cluster, method, path)` and has hits left applies."""
