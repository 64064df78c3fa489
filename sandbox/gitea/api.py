"""From raw request to `Reply`: prefix, authentication, routing, token scopes, faults, the request log.

Socket-free on purpose (`server.py` does the HTTP), so the order of concerns reads top
to bottom from `Api.answer`. Handlers run one at a time under the store's lock. The
request log and the `/_sandbox/` endpoints are `sandbox.hosting.pipeline`'s.

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

import re
import traceback
from urllib.parse import parse_qsl

from sandbox.faultbook import FaultBook
from sandbox.gitea import issues, merge, pulls, repos, reviews
from sandbox.gitea.errors import ApiError, not_found
from sandbox.gitea.faults import Fault
from sandbox.gitea.routing import PREFIX, Handler, Reply, Request, Urls, route_table
from sandbox.gitea.store import Backend
from sandbox.hosting.pipeline import Pipeline, Served

__all__ = ["Api", "Served"]

# Literal segments before Gitea's catch-all `/pulls/{base}/*`, as chi matches them.
ROUTES = route_table(repos.ROUTES, merge.ROUTES, reviews.ROUTES, pulls.ROUTES, issues.ROUTES, pulls.BY_BRANCHES)
PUBLIC = ("/version",)
ISSUE_PATH = re.compile(r"^/repos/[^/]+/[^/]+/(issues|labels)(/|$)")


class Api(Pipeline[Fault]):
    """The stand-in's request pipeline, shared by every server thread; `credentials` is the Authorization header."""

    prefix = PREFIX
    fault = Fault
    control_not_found = {"message": "not found"}
    backend: Backend

    def __init__(self, backend: Backend, faults: FaultBook[Fault], tokens: dict[str, str], read_only: set[str]) -> None:
        super().__init__(backend, faults, tokens)
        self.read_only = read_only

    def outside(self, host: str) -> Reply:
        return _error(not_found(), Urls.for_host(host))

    def answer(self, method: str, path: str, query: str, auth: str | None, raw: bytes, host: str) -> Reply:
        urls = Urls.for_host(host)
        try:
            return self._authorised(method, path, query, auth, raw, urls)
        except ApiError as error:
            return _error(error, urls)

    def bad_json(self) -> ApiError:
        return ApiError(422, "[]: DeserializationError")

    def _authorised(self, method: str, path: str, query: str, auth: str | None, raw: bytes, urls: Urls) -> Reply:
        token = _token(auth)
        if token is not None and token not in self.tokens:
            raise ApiError(401, f"access token does not exist [sha: {token}]")
        found, params = ROUTES.resolve(method, path)
        if token is None and path not in PUBLIC:
            raise ApiError(401, "token is required")
        if token in self.read_only and method not in ("GET", "HEAD"):
            raise ApiError(403, f"token does not have at least one of required scope(s): [write:{_category(path)}]")
        login = self.tokens.get(token or "", "")
        request = Request(method, path, dict(parse_qsl(query, keep_blank_values=True)), None, login, urls, params)
        return self.with_faults(request, lambda: self._dispatch(found.handler, request, raw))

    def _dispatch(self, handler: Handler, request: Request, raw: bytes) -> Reply:
        try:
            request.body = self.parse_json(raw)
            with self.backend.store.lock:
                return handler(self.backend, request)
        except ApiError as error:
            return _error(error, request.urls)
        except Exception as error:  # a stand-in bug or a git failure: answer 500 like Gitea, keep serving
            traceback.print_exc()
            return Reply(500, {"message": str(error), "url": request.urls.swagger})


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
