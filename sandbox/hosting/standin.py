"""`HostStandIn`: what the stand-in objects of every Git host offer alike.

Start and stop (the server thread and the webhook worker), faults (`inject`, `fail_once`,
`clear_faults`), the request log (`requests`, `clear_requests`) and deliveries
(`deliveries`, `wait_for_deliveries`, `redeliver`). Repositories, tokens, rate limits and
webhook subscriptions are each host's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Generic, Self, TypeVar

from sandbox.faultbook import FaultBook
from sandbox.hosting.faults import Fault
from sandbox.hosting.pipeline import Pipeline, Served
from sandbox.hosting.webhooks import Delivery, Dispatcher
from sandbox.httpserver import Server, Serving

F = TypeVar("F", bound=Fault)


class HostStandIn(Serving, Generic[F]):
    """A host's API on `host:port`, backed by bare git repositories under `root`.

    The host's subclass sets `server` (its Server class) and `thread_name`, and in `__init__`
    `root`, `host`, `port`, `hooks`, `faults` and `api`.
    """

    server: ClassVar[type[Server[Any]]]
    thread_name: ClassVar[str]
    root: Path
    hooks: Dispatcher
    faults: FaultBook[F]
    api: Pipeline[F]

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        """Serve in a background thread (on a free port unless one was given); idempotent."""
        if not self.serving:
            self.root.mkdir(parents=True, exist_ok=True)
            self._serve(self.server((self.host, self.port), self.api), self.thread_name)
            self.hooks.start()
        return self

    def stop(self) -> None:
        """Stop serving and delivering; idempotent."""
        self._unserve()
        self.hooks.stop()

    # -- faults and the request log ------------------------------------------------------------

    def inject(
        self,
        method: str,
        path: str,
        status: int,
        times: int | None = 1,
        when: str = "before",
        headers: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> F:
        """Answer `status` to `times` requests matching `method` and the regex `path` (searched in the
        path without the API prefix or query); `when="after"` does the work first. Returns the live Fault."""
        return self.faults.add(self.api.fault(method, path, status, times, when, dict(headers or {}), body))

    def fail_once(self, method: str, path: str, status: int = 502, *, when: str = "after") -> F:
        """One failure, after the work by default (the case that tests idempotency)."""
        return self.inject(method, path, status, times=1, when=when)

    def clear_faults(self) -> None:
        self.faults.clear()

    @property
    def requests(self) -> list[Served]:
        """Every API request answered, as (method, path, status); path without the API prefix or query."""
        return self.api.served()

    def clear_requests(self) -> None:
        self.api.clear_served()

    # -- webhook deliveries ------------------------------------------------------------------

    @property
    def deliveries(self) -> list[Delivery]:
        """Every delivery attempted so far (a delivery still queued is not listed yet)."""
        return self.hooks.deliveries()

    def wait_for_deliveries(self, count: int | None = None, timeout: float = 5.0) -> list[Delivery]:
        """Wait until every queued delivery was attempted (and at least `count` exist); returns them all."""
        return self.hooks.wait(count, timeout)

    def redeliver(self, delivery_id: str) -> None:
        """Re-send a delivery: same body, same headers, same delivery id (queued like any other)."""
        self.hooks.redeliver(delivery_id)
