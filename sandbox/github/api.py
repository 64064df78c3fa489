"""From raw request to `Reply`: prefix, authentication, rate-limit headers, faults, routing.

Socket-free on purpose (`server.py` does the HTTP), so the order of concerns reads top
to bottom from `Api.answer`. Handlers run one at a time under the store's lock: the
stand-in trades throughput for obviously consistent state, as GitHub serialises merges.
The request log and the `/_sandbox/` endpoints are `sandbox.hosting.pipeline`'s.
"""

from __future__ import annotations

import traceback
from urllib.parse import parse_qsl

from sandbox.faultbook import FaultBook
from sandbox.github import issues, merge, pulls, repos, reviews
from sandbox.github.errors import DOCS, ApiError
from sandbox.github.faults import Fault
from sandbox.github.routing import Reply, Request, Urls, route_table
from sandbox.github.store import Backend, Quota
from sandbox.hosting.pipeline import Pipeline, Served

__all__ = ["Api", "Served"]

ROUTES = route_table(repos.ROUTES, pulls.ROUTES, merge.ROUTES, issues.ROUTES, reviews.ROUTES)
UNCOUNTED = ("/rate_limit",)  # GitHub does not charge for asking about the limit


class Api(Pipeline[Fault]):
    """The stand-in's request pipeline, shared by every server thread; `credentials` is the Authorization header."""

    fault = Fault
    backend: Backend

    def __init__(self, backend: Backend, faults: FaultBook[Fault], tokens: dict[str, str], prefix: str) -> None:
        super().__init__(backend, faults, tokens)
        self.prefix = prefix.rstrip("/")

    def api_path(self, path: str) -> str | None:
        # The prefix alone is the API root, "/".
        if path == self.prefix or path.startswith(f"{self.prefix}/"):
            return path[len(self.prefix) :] or "/"
        return None

    def outside(self, host: str) -> Reply:
        return self._with_quota(Reply(404, ApiError(404, "Not Found").body), self._quota(None, 0))

    def answer(self, method: str, path: str, query: str, auth: str | None, raw: bytes, host: str) -> Reply:
        login = self._login(auth)
        if login is None:
            error = _auth_error(auth)
            return self._with_quota(Reply(error.status, error.body), self._quota(None, 0))
        quota = self._quota(login, 0 if path in UNCOUNTED else 1)
        params = dict(parse_qsl(query, keep_blank_values=True))
        request = Request(method, path, params, None, login, Urls.for_host(host, self.prefix))
        return self._with_quota(self.with_faults(request, lambda: self._dispatch(request, raw)), quota)

    def bad_json(self) -> ApiError:
        return ApiError(400, "Problems parsing JSON")

    def _dispatch(self, request: Request, raw: bytes) -> Reply:
        try:
            found, request.params = ROUTES.resolve(request.method, request.path)
            request.body = self.parse_json(raw)
            with self.backend.store.lock:
                return found.handler(self.backend, request)
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


def _auth_error(authorization: str | None) -> ApiError:
    if not authorization:
        return ApiError(401, "Requires authentication")
    return ApiError(401, "Bad credentials")
