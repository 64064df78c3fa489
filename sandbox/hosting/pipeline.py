"""What every host's request pipeline (`Api`) does alike: the request log, faults around the work, JSON bodies
and the `/_sandbox/` control endpoints that out-of-process tests use.

A host's `Api` subclasses `Pipeline` and writes what is its own: `answer()` (authentication, routing,
rights, error bodies), `bad_json()` and, where it differs, `outside()` and `api_path()`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from typing import Any, Generic, NamedTuple, TypeVar

from sandbox.faultbook import FaultBook
from sandbox.hosting.errors import HostError
from sandbox.hosting.faults import Fault
from sandbox.hosting.routing import Reply

CONTROL = "/_sandbox/"
DELIVERY_FIELDS = ("id", "hook_id", "event", "action", "url", "status", "error", "redelivery", "payload")

F = TypeVar("F", bound=Fault)


class Served(NamedTuple):
    """One API request as answered: method, path (prefix and query stripped), status."""

    method: str
    path: str
    status: int


class Pipeline(Generic[F]):
    """From raw request to `Reply`, shared by every server thread; `prefix` is where the API lives.

    `backend` holds the host's state and webhook dispatcher (`backend.hooks`), `faults` the
    injected faults, `tokens` the accepted tokens (token → user name).
    """

    prefix: str
    fault: type[F]
    control_not_found: Any = {"message": "Not Found"}

    def __init__(self, backend: Any, faults: FaultBook[F], tokens: dict[str, str]) -> None:
        self.backend = backend
        self.faults = faults
        self.tokens = tokens
        self._log_lock = threading.Lock()
        self._served: list[Served] = []

    def handle(self, method: str, target: str, credentials: Any, raw: bytes, host: str) -> Reply:
        """Answer one HTTP request; `credentials` is what the host's handler read from the headers,
        `host` the request's Host header (or the server address). API calls go to the request log."""
        path, _, query = target.partition("?")
        if path.startswith(CONTROL):
            return self._control(method, path.rstrip("/"), raw)
        api_path = self.api_path(path)
        if api_path is None:
            return self.outside(host)
        reply = self.answer(method, api_path, query, credentials, raw, host)
        self._record(Served(method, api_path, reply.status))
        return reply

    def api_path(self, path: str) -> str | None:
        """`path` below the prefix, or None when it lies outside the API."""
        return path[len(self.prefix) :] if path.startswith(f"{self.prefix}/") else None

    def outside(self, host: str) -> Reply:
        """The host's answer to a path outside the API."""
        raise NotImplementedError

    def answer(self, method: str, path: str, query: str, credentials: Any, raw: bytes, host: str) -> Reply:
        """The host's answer to an API call (`path` without the prefix)."""
        raise NotImplementedError

    def bad_json(self) -> HostError:
        """The host's error for a body that is not JSON."""
        raise NotImplementedError

    def parse_json(self, raw: bytes) -> Any:
        """The body as JSON, None when empty; raises `bad_json()` for anything else."""
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError as error:
            raise self.bad_json() from error

    def with_faults(self, request: Any, work: Callable[[], Reply]) -> Reply:
        """`work()`'s reply, unless a fault claims `request`: then the fault's, before or after the work."""
        fault = self.faults.claim(request.method, request.path)
        if fault is not None and fault.when == "before":
            return fault.reply(request)
        reply = work()
        return fault.reply(request) if fault is not None else reply

    def served(self) -> list[Served]:
        with self._log_lock:
            return list(self._served)

    def clear_served(self) -> None:
        with self._log_lock:
            self._served.clear()

    def _record(self, served: Served) -> None:
        with self._log_lock:
            self._served.append(served)

    def _control(self, method: str, path: str, raw: bytes) -> Reply:
        """The sandbox's own endpoints: faults, the request log and the deliveries."""
        try:
            return self._control_route(method, path, raw)
        except (HostError, KeyError, TypeError, ValueError, re.error) as error:
            return Reply(400, {"message": f"bad fault: {error}"})

    def _control_route(self, method: str, path: str, raw: bytes) -> Reply:
        if (method, path) == ("POST", "/_sandbox/faults"):
            return Reply(201, self.faults.add(self.fault.from_json(self.parse_json(raw) or {})).as_json())
        if (method, path) == ("GET", "/_sandbox/faults"):
            return Reply(200, [fault.as_json() for fault in self.faults.all()])
        if (method, path) == ("DELETE", "/_sandbox/faults"):
            self.faults.clear()
            return Reply(204)
        if (method, path) == ("GET", "/_sandbox/requests"):
            return Reply(200, [served._asdict() for served in self.served()])
        if (method, path) == ("DELETE", "/_sandbox/requests"):
            self.clear_served()
            return Reply(204)
        if (method, path) == ("GET", "/_sandbox/deliveries"):
            deliveries = self.backend.hooks.deliveries()
            return Reply(200, [{key: getattr(d, key) for key in DELIVERY_FIELDS} for d in deliveries])
        return Reply(404, self.control_not_found)
