"""From raw request to `Reply`: /api/v4, authentication, faults, write rights, routing.

Socket-free on purpose (`server.py` does the HTTP), so the order of concerns reads top
to bottom from `Api.answer`. Handlers run one at a time under the store's lock: the
stand-in trades throughput for obviously consistent state, as GitLab serialises merges.
The request log and the `/_sandbox/` endpoints are `sandbox.hosting.pipeline`'s.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from urllib.parse import parse_qsl

from sandbox.faultbook import FaultBook
from sandbox.gitlab import approvals, merge_requests, merging, notes, projects, statuses
from sandbox.gitlab.errors import ApiError, forbidden, unauthorized
from sandbox.gitlab.faults import Fault
from sandbox.gitlab.routing import PREFIX, Reply, Request, Route, Urls, route_table
from sandbox.gitlab.store import Backend
from sandbox.hosting.pipeline import Pipeline, Served

__all__ = ["Api", "Served"]

ROUTES = route_table(
    projects.ROUTES, merge_requests.ROUTES, merging.ROUTES, notes.ROUTES, approvals.ROUTES, statuses.ROUTES
)


class Api(Pipeline[Fault]):
    """The stand-in's request pipeline, shared by every server thread.

    `tokens` maps a token to its username; tokens in `read_only` may read but not write.
    `credentials` holds at least PRIVATE-TOKEN/Authorization if sent.
    """

    prefix = PREFIX
    fault = Fault
    backend: Backend

    def __init__(self, backend: Backend, faults: FaultBook[Fault], tokens: dict[str, str], read_only: set[str]) -> None:
        super().__init__(backend, faults, tokens)
        self.read_only = read_only

    def outside(self, host: str) -> Reply:
        return Reply(404, {"error": "404 Not Found"})

    def answer(self, method: str, path: str, query: str, headers: Mapping[str, str], raw: bytes, host: str) -> Reply:
        token = _token(headers)
        username = self.tokens.get(token or "")
        if username is None:
            error = unauthorized()
            return Reply(error.status, error.body)
        with self.backend.store.lock:
            user = self.backend.store.user(username)
        params = dict(parse_qsl(query, keep_blank_values=True))
        request = Request(method, path, params, None, user, Urls.for_host(host))
        writable = token not in self.read_only
        return self.with_faults(request, lambda: self._dispatch(request, raw, writable))

    def bad_json(self) -> ApiError:
        return ApiError(400, "400 Bad request - body is not valid JSON")

    def _dispatch(self, request: Request, raw: bytes, writable: bool) -> Reply:
        try:
            found, request.params = ROUTES.resolve(request.method, request.path)
            request.body = self.parse_json(raw)
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


def _token(headers: Mapping[str, str]) -> str | None:
    """The token from `PRIVATE-TOKEN` (python-gitlab's private_token) or `Authorization: Bearer` (oauth_token)."""
    private = headers.get("PRIVATE-TOKEN")
    if private:
        return private.strip()
    scheme, _, token = (headers.get("Authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None
