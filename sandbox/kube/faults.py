"""Injected failures: a status (401/403/404/500…), a delay (a slow or hung API server), or both.

A fault matches one cluster (or every cluster when `cluster` is None), a method and a
regex searched in the path below the cluster prefix (`/apis/apps/v1/namespaces/shop/deployments`).
"""

from __future__ import annotations

import itertools
import re
import threading
from dataclasses import dataclass
from typing import Any

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


class FaultBook:
    """The active faults; the first that matches and has hits left applies."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            fault.id = next(self._ids)
            self._faults.append(fault)
        return fault

    def claim(self, cluster: str, method: str, path: str) -> Fault | None:
        """The fault for this request with one hit spent, or None."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(cluster, method, path) and (fault.times is None or fault.hits < fault.times):
                    fault.hits += 1
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
