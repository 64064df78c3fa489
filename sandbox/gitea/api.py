"""From raw request to `Reply`: prefix, authentication, routing, token scopes, faults, the request log.

Socket-free on purpose (`server.py` does the HTTP), so the order of concerns reads top
to bottom in `Api.handle`. Handlers run one at a time under the store's lock.

Authentication answers as Gitea does: `Authorization: token <t>` or `Bearer <t>`; an
unknown token is 401 "access token does not exist [sha: <the token>]" (Gitea and Forgejo
echo the token back, so clients must not log that message); no token is 401 "token is
required" (real Gitea would answer a private repository's reads with 404 instead; every
stand-in repository is private and every endpoint but `/version` wants a token). A
read-only token (scopes read:*) writing is 403 "token does not have at least one of
required scope(s): [write:<category>]", the category being `issue` for issues and
labels, `user` for `/user`, `repository` for the rest.
"""

from __future__ import annotations

import json
import re
import threading
import traceback
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from sandbox.gitea import issues, merge, pulls, repos, reviews
from sandbox.gitea.errors import ApiError, not_found
from sandbox.gitea.faults import FaultBook, fault_from_json
from sandbox.gitea.routing import PREFIX, Handler, Reply, Request, Urls, resolve
from sandbox.gitea.store import Backend

# Literal segments before Gitea's catch-all `/pulls/{base}/*`, as chi matches them.
ROUTES = [*repos.ROUTES, *merge.ROUTES, *reviews.ROUTES, *pulls.ROUTES, *issues.ROUTES, *pulls.BY_BRANCHES]
PUBLIC = ("/version",)
CONTROL = "/_sandbox/"
ISSUE_PATH = re.compile(r"^/repos/[^/]+/[^/]+/(issues|labels)(/|$)")


class Served(NamedTuple):
    """One API request as answered: method, path (no `/api/v1`, no query), status."""

    method: str
    path: str
    status: int


class Api:
    """The stand-in's request pipeline, shared by every server thread."""

    def __init__(self, backend: Backend, faults: FaultBook, tokens: dict[str, str], read_only: set[str]) -> None:
        self.backend = backend
        self.faults = faults
        self.tokens = tokens
        self.read_only = read_only
        self._log_lock = threading.Lock()
        self._served: list[Served] = []

    def handle(self, method: str, target: str, authorization: str | None, raw: bytes, host: str) -> Reply:
        """Answer one HTTP request; `host` is the request's Host header (or the server address)."""
        path, _, query = target.partition("?")
        if path.startswith(CONTROL):
            return self._control(method, path.rstrip("/"), raw)
        urls = Urls.for_host(host)
        if not path.startswith(f"{PREFIX}/"):
            return _error(not_found(), urls)
        api_path = path[len(PREFIX) :]
        try:
            reply = self._authorised(method, api_path, query, authorization, raw, urls)
        except ApiError as error:
            reply = _error(error, urls)
        self._record(Served(method, api_path, reply.status))
        return reply

    def _authorised(self, method: str, path: str, query: str, auth: str | None, raw: bytes, urls: Urls) -> Reply:
        token = _token(auth)
        if token is not None and token not in self.tokens:
            raise ApiError(401, f"access token does not exist [sha: {token}]")
        handler, params = resolve(ROUTES, method, path)
        if token is None and path not in PUBLIC:
            raise ApiError(401, "token is required")
        if token in self.read_only and method not in ("GET", "HEAD"):
            raise ApiError(403, f"token does not have at least one of required scope(s): [write:{_category(path)}]")
        login = self.tokens.get(token or "", "")
        request = Request(method, path, dict(parse_qsl(query, keep_blank_values=True)), None, login, urls, params)
        return self._serve(handler, request, raw)

    def _serve(self, handler: Handler, request: Request, raw: bytes) -> Reply:
        fault = self.faults.claim(request.method, request.path)
        if fault is not None and fault.when == "before":
            return fault.reply(request.urls)
        reply = self._dispatch(handler, request, raw)
        return fault.reply(request.urls) if fault is not None else reply

    def _dispatch(self, handler: Handler, request: Request, raw: bytes) -> Reply:
        try:
            request.body = _parse_json(raw)
            with self.backend.store.lock:
                return handler(self.backend, request)
        except ApiError as error:
            return _error(error, request.urls)
        except Exception as error:  # a stand-in bug or a git failure: answer 500 like Gitea, keep serving
            traceback.print_exc()
            return Reply(500, {"message": str(error), "url": request.urls.swagger})

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
        """The sandbox's own endpoints: faults and the request log, for out-of-process tests."""
        try:
            return self._control_route(method, path, raw)
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
        return Reply(404, {"message": "not found"})


def _token(authorization: str | None) -> str | None:
    """The token of a `token <t>` or `Bearer <t>` header; None when there is none."""
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() in ("token", "bearer") and token.strip() else None


def _category(path: str) -> str:
    if path == "/user" or path.startswith("/user/"):
        return "user"
    return "issue" if ISSUE_PATH.match(path) else "repository"


def _error(error: ApiError, urls: Urls) -> Reply:
    return Reply(error.status, error.body(urls.swagger))


def _parse_json(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as error:
        raise ApiError(422, "[]: DeserializationError") from error


def _delivery_json(delivery: Any) -> dict[str, Any]:
    keys = ("id", "hook_id", "event", "action", "url", "status", "error", "redelivery", "payload")
    return {key: getattr(delivery, key) for key in keys}
