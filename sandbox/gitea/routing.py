"""Requests, replies, the route table and Gitea-style pagination.

Every URL the stand-in hands out is built from the request's `Host` header (`Urls`), so
a client that reaches the server as `localhost:8123` or through a proxy gets links it
can follow. Pagination follows `SetLinkHeader`/`SetTotalCountHeader` in Gitea's
`services/context/api.go`: `page`/`limit` (default 30, at most 50), `X-Total-Count`,
and a `Link` header whose relations come in Gitea's order (next, last, first, prev)
joined by a bare comma.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from sandbox.gitea.errors import ApiError, binding_error, not_found
from sandbox.hosting import routing
from sandbox.hosting.routing import Reply, int_or
from sandbox.hosting.routing import route as route  # the handler modules declare their routes with it

if TYPE_CHECKING:
    from sandbox.gitea.store import Backend

PREFIX = "/api/v1"
DEFAULT_LIMIT = 30  # setting.API.DefaultPagingNum
MAX_LIMIT = 50  # setting.API.MaxResponseItems


@dataclass(frozen=True)
class Urls:
    """Base addresses for one request: `web` is the server root, `api` the REST base."""

    web: str

    @classmethod
    def for_host(cls, host: str) -> Urls:
        return cls(web=f"http://{host}")

    @property
    def api(self) -> str:
        return f"{self.web}{PREFIX}"

    @property
    def swagger(self) -> str:
        return f"{self.web}/api/swagger"

    def repo_api(self, full_name: str) -> str:
        return f"{self.api}/repos/{full_name}"

    def html(self, *parts: object) -> str:
        return "/".join([self.web, *(str(part) for part in parts)])


@dataclass
class Request(routing.Request):
    """One authenticated API call, the `/api/v1` prefix already stripped from `path`."""

    login: str
    urls: Urls
    params: dict[str, str] = field(default_factory=dict)

    def not_an_object(self) -> ApiError:
        # A JSON body that is not an object: a binding failure like Gitea's (422).
        return binding_error("", "DeserializationError")


Handler = Callable[["Backend", Request], Reply]
Route = routing.Route[Handler]


def route_table(*groups: Iterable[Route]) -> routing.RouteTable[Route]:
    """Gitea's routes, in chi's order (literal segments first): its 404 for no such path, 405 for a wrong method."""
    return routing.RouteTable(
        chain(*groups), not_found=not_found, not_allowed=lambda: ApiError(405, "Method Not Allowed")
    )


def page_and_limit(req: Request) -> tuple[int, int]:
    """Gitea's `GetListOptions`: page < 1 is 1, limit < 1 is the default, limit is capped."""
    # Gitea's ctx.FormInt: anything unparsable reads as 0, i.e. "not given".
    page = max(int_or(req.query.get("page"), 1), 1)
    limit = int_or(req.query.get("limit"), 0)
    return page, DEFAULT_LIMIT if limit <= 0 else min(limit, MAX_LIMIT)


def paginate(req: Request, items: Sequence[Any], *, links: bool = True) -> Reply:
    """One page of `items` with `X-Total-Count` and (unless `links` is False) Gitea's `Link` header."""
    page, limit = page_and_limit(req)
    chunk = list(items[(page - 1) * limit : page * limit])
    headers = {"X-Total-Count": str(len(items)), "Access-Control-Expose-Headers": "X-Total-Count"}
    rels = _relations(page, max(math.ceil(len(items) / limit), 1)) if links else []
    if rels:
        headers["Link"] = ",".join(f'<{_page_url(req, number)}>; rel="{rel}"' for rel, number in rels)
        headers["Access-Control-Expose-Headers"] = "X-Total-Count, Link"
    return Reply(200, chunk, headers)


def _relations(page: int, last: int) -> list[tuple[str, int]]:
    rels: list[tuple[str, int]] = []
    if page < last:
        rels += [("next", page + 1), ("last", last)]
    if page > 1:
        rels += [("first", 1), ("prev", page - 1)]
    return rels


def _page_url(req: Request, page: int) -> str:
    # Go's url.Values.Encode sorts the keys.
    query = {**req.query, "page": str(page)}
    return f"{req.urls.api}{req.path}?{urlencode(sorted(query.items()))}"
