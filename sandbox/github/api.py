"""From raw request to `Reply`: prefix, authentication, rate-limit headers, faults, routing, the request log.

Socket-free on purpose (`server.py` does the HTTP), so the order of concerns reads top
to bottom in `Api.handle`. Handlers run one at a time under the store's lock: the
stand-in trades throughput for obviously consistent state, as GitHub serialises merges.
"""

from __future__ import annotations

import json
import re
import threading
import traceback
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from sandbox.github import issues, merge, pulls, repos, reviews
from sandbox.github.errors import DOCS, ApiError
from sandbox.github.faults import FaultBook, fault_from_json
from sandbox.github.routing import Reply, Request, Urls, resolve
from sandbox.github.store import Backend, Quota

ROUTES = [*repos.ROUTES, *pulls.ROUTES, *merge.ROUTES, *issues.ROUTES, *reviews.ROUTES]
CONTROL = "/_sandbox/"
UNCOUNTED = ("/rate_limit",)  # GitHub does not charge for asking about the limit


class Served(NamedTuple):
    """One API request as answered: method, path (prefix and query stripped), status."""

    method: str
    path: str
    status: int


class Api:
    """The stand-in's request pipeline, shared by every server thread."""

    def __init__(self, backend: Backend, faults: FaultBook, tokens: dict[str, str], prefix: str) -> None:
        self.backend = backend
        self.faults = faults
        self.tokens = tokens
        self.prefix = prefix.rstrip("/")
        self._log_lock = threading.Lock()
        self._served: list[Served] = []

    def handle(self, method: str, target: str, authorization: str | None, raw: bytes, host: str) -> Reply:
        """Answer one HTTP request; `host` is the request's Host header (or the server address)."""
        path, _, query = target.partition("?")
        if path.startswith(CONTROL):
            return self._control(method, path, raw)
        if not (path == self.prefix or path.startswith(f"{self.prefix}/")):
            return self._with_quota(Reply(404, ApiError(404, "Not Found").body), self._quota(None, 0))
        api_path = path[len(self.prefix) :] or "/"
        reply = self._authenticated(method, api_path, query, authorization, raw, host)
        self._record(Served(method, api_path, reply.status))
        return reply

    def _authenticated(self, method: str, path: str, query: str, auth: str | None, raw: bytes, host: str) -> Reply:
        login = self._login(auth)
        if login is None:
            error = _auth_error(auth)
            return self._with_quota(Reply(error.status, error.body), self._quota(None, 0))
        quota = self._quota(login, 0 if path in UNCOUNTED else 1)
        params = dict(parse_qsl(query, keep_blank_values=True))
        request = Request(method, path, params, None, login, Urls.for_host(host, self.prefix))
        return self._with_quota(self._serve(request, raw), quota)

    def served(self) -> list[Served]:
        with self._log_lock:
            return list(self._served)

    def clear_served(self) -> None:
        with self._log_lock:
            self._served.clear()

    def _serve(self, request: Request, raw: bytes) -> Reply:
        fault = self.faults.claim(request.method, request.path)
        if fault is not None and fault.when == "before":
            return fault.reply()
        reply = self._dispatch(request, raw)
        return fault.reply() if fault is not None else reply

    def _dispatch(self, request: Request, raw: bytes) -> Reply:
        try:
            handler, request.params = resolve(ROUTES, request.method, request.path)
            request.body = _parse_json(raw)
            with self.backend.store.lock:
                return handler(self.backend, request)
        except ApiError as error:
            return Reply(error.status, error.body)
        except Exception as error:  # a stand-in bug or a git failure: answer 500 like GitHub, keep serving
            traceback.print_exc()
            return Reply(500, {"message": f"Server Error: {error}", "documentation_url": DOCS})

    def _login(self, authorization: str | None) -> str | None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() not in ("token", "bearer"):
            return None
        return self.tokens.get(token.strip())

    def _quota(self, login: str | None, spend: int) -> Quota:
        with self.backend.store.lock:
            return self.backend.store.quota(login or "", spend)

    def _with_quota(self, reply: Reply, quota: Quota) -> Reply:
        # The reply's own headers win: a rate-limit fault sets X-RateLimit-Remaining: 0.
        rate = {
            "X-RateLimit-Limit": str(quota.limit),
            "X-RateLimit-Remaining": str(quota.remaining),
            "X-RateLimit-Reset": str(quota.reset),
            "X-RateLimit-Used": str(quota.used),
            "X-RateLimit-Resource": "core",
        }
        reply.headers = {**rate, **reply.headers}
        return reply

    def _record(self, served: Served) -> None:
        with self._log_lock:
            self._served.append(served)

    def _control(self, method: str, path: str, raw: bytes) -> Reply:
        """The sandbox's own endpoints: faults and the request log, for out-of-process tests."""
        try:
            return self._control_route(method, path.rstrip("/"), raw)
        except (ApiError, KeyError, TypeError, ValueError, re.error) as error:
            return Reply(400, {"message": f"bad fault: {error}"})

    def _control_route(self, method: str, path: str, raw: bytes) -> Reply:
        if (method, path) == ("POST", "/_sandbox/faults"):
            return Reply(201, self.faults.add(fault_from_json(_parse_json(raw) or {})).as_json())
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
            return Reply(200, [_delivery_json(d) for d in self.backend.hooks.deliveries()])
        return Reply(404, {"message": "Not Found"})


def _auth_error(authorization: str | None) -> ApiError:
    if not authorization:
        return ApiError(401, "Requires authentication")
    return ApiError(401, "Bad credentials")


def _parse_json(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as error:
        raise ApiError(400, "Problems parsing JSON") from error


def _delivery_json(delivery: Any) -> dict[str, Any]:
    keys = ("id", "hook_id", "event", "action", "url", "status", "error", "redelivery", "payload")
    return {key: getattr(delivery, key) for key in keys}
