"""From raw request to `Reply`: /api/v4, authentication, faults, write rights, routing, the request log.

Socket-free on purpose (`server.py` does the HTTP), so the order of concerns reads top
to bottom in `Api.handle`. Handlers run one at a time under the store's lock: the
stand-in trades throughput for obviously consistent state, as GitLab serialises merges.
"""

from __future__ import annotations

import json
import re
import threading
import traceback
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from sandbox.gitlab import approvals, merge_requests, merging, notes, projects, statuses
from sandbox.gitlab.errors import ApiError, forbidden, unauthorized
from sandbox.gitlab.faults import FaultBook, fault_from_json
from sandbox.gitlab.routing import PREFIX, Reply, Request, Route, Urls, resolve
from sandbox.gitlab.store import Backend

ROUTES = [*projects.ROUTES, *merge_requests.ROUTES, *merging.ROUTES, *notes.ROUTES, *approvals.ROUTES]
ROUTES += statuses.ROUTES
CONTROL = "/_sandbox/"


class Served(NamedTuple):
    """One API request as answered: method, path (without /api/v4 and query, still URL-encoded), status."""

    method: str
    path: str
    status: int


class Api:
    """The stand-in's request pipeline, shared by every server thread.

    `tokens` maps a token to its username; tokens in `read_only` may read but not write.
    """

    def __init__(self, backend: Backend, faults: FaultBook, tokens: dict[str, str], read_only: set[str]) -> None:
        self.backend = backend
        self.faults = faults
        self.tokens = tokens
        self.read_only = read_only
        self._log_lock = threading.Lock()
        self._served: list[Served] = []

    def handle(self, method: str, target: str, headers: Mapping[str, str], raw: bytes, host: str) -> Reply:
        """Answer one HTTP request; `headers` holds at least PRIVATE-TOKEN/Authorization if sent."""
        path, _, query = target.partition("?")
        if path.startswith(CONTROL):
            return self._control(method, path, raw)
        if not path.startswith(f"{PREFIX}/"):
            return Reply(404, {"error": "404 Not Found"})
        api_path = path[len(PREFIX) :]
        reply = self._authenticated(method, api_path, query, _token(headers), raw, host)
        self._record(Served(method, api_path, reply.status))
        return reply

    def served(self) -> list[Served]:
        with self._log_lock:
            return list(self._served)

    def clear_served(self) -> None:
        with self._log_lock:
            self._served.clear()

    def _authenticated(self, method: str, path: str, query: str, token: str | None, raw: bytes, host: str) -> Reply:
        username = self.tokens.get(token or "")
        if username is None:
            error = unauthorized()
            return Reply(error.status, error.body)
        with self.backend.store.lock:
            user = self.backend.store.user(username)
        params = dict(parse_qsl(query, keep_blank_values=True))
        request = Request(method, path, params, None, user, Urls.for_host(host))
        return self._serve(request, raw, writable=token not in self.read_only)

    def _serve(self, request: Request, raw: bytes, *, writable: bool) -> Reply:
        fault = self.faults.claim(request.method, request.path)
        if fault is not None and fault.when == "before":
            return fault.reply()
        reply = self._dispatch(request, raw, writable)
        return fault.reply() if fault is not None else reply

    def _dispatch(self, request: Request, raw: bytes, writable: bool) -> Reply:
        try:
            found, request.params = resolve(ROUTES, request.method, request.path)
            request.body = _parse_json(raw)
            with self.backend.store.lock:
                if not writable and request.method != "GET":
                    self._refuse(found, request)
                return found.handler(self.backend, request)
        except ApiError as error:
            return Reply(error.status, error.body)
        except Exception as error:  # a stand-in bug or a git failure: answer 500 like GitLab, keep serving
            traceback.print_exc()
            return Reply(500, {"message": f"500 Internal Server Error: {error}"})

    def _refuse(self, found: Route, request: Request) -> None:
        """A token without write rights: 404 for a project it cannot see, else the route's refusal."""
        if "id" in request.params:
            self.backend.store.project(request.params["id"])
        raise unauthorized() if found.refused == 401 else forbidden()

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


def _token(headers: Mapping[str, str]) -> str | None:
    """The token from `PRIVATE-TOKEN` (python-gitlab's private_token) or `Authorization: Bearer` (oauth_token)."""
    private = headers.get("PRIVATE-TOKEN")
    if private:
        return private.strip()
    scheme, _, token = (headers.get("Authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _parse_json(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as error:
        raise ApiError(400, "400 Bad request - body is not valid JSON") from error


def _delivery_json(delivery: Any) -> dict[str, Any]:
    keys = ("id", "hook_id", "event", "action", "url", "status", "error", "redelivery", "payload")
    return {key: getattr(delivery, key) for key in keys}
