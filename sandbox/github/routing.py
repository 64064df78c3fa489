"""Requests, replies, the route table and GitHub-style pagination.

Every URL the stand-in hands out is built from the request's `Host` header (`Urls`), so
a client that reaches the server as `localhost:8123` or through a proxy gets links it
can follow.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from sandbox.github.errors import ApiError, not_found
from sandbox.hosting import routing
from sandbox.hosting.routing import Reply, int_or
from sandbox.hosting.routing import route as route  # the handler modules declare their routes with it

if TYPE_CHECKING:
    from sandbox.github.store import Backend

DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100


@dataclass(frozen=True)
class Urls:
    """Base addresses for one request: `api` (with the prefix) and `web` (the html side)."""

    api: str
    web: str

    @classmethod
    def for_host(cls, host: str, prefix: str) -> Urls:
        return cls(api=f"http://{host}{prefix}", web=f"http://{host}")

    def repo(self, full_name: str) -> str:
        return f"{self.api}/repos/{full_name}"

    def user(self, login: str) -> str:
        return f"{self.api}/users/{login}"


@dataclass
class Request(routing.Request):
    """One authenticated API call, the prefix already stripped from `path`."""

    login: str
    urls: Urls
    params: dict[str, str] = field(default_factory=dict)

    def not_an_object(self) -> ApiError:
        # A JSON body that is not an object: GitHub's 400.
        return ApiError(400, "Problems parsing JSON")


Handler = Callable[["Backend", Request], Reply]
Route = routing.Route[Handler]


def route_table(*groups: Iterable[Route]) -> routing.RouteTable[Route]:
    """GitHub's routes, answering 404 "Not Found" for an unknown path and 405 for a wrong method."""
    return routing.RouteTable(
        chain(*groups), not_found=not_found, not_allowed=lambda: ApiError(405, "Method Not Allowed")
    )


def paginate(req: Request, items: Sequence[Any]) -> Reply:
    """One page of `items` per `page`/`per_page`, with an RFC 5988 `Link` header like GitHub's
    (a malformed page/per_page is ignored, not refused)."""
    per_page = min(max(int_or(req.query.get("per_page"), DEFAULT_PER_PAGE), 1), MAX_PER_PAGE)
    page = max(int_or(req.query.get("page"), 1), 1)
    last = max(math.ceil(len(items) / per_page), 1)
    chunk = list(items[(page - 1) * per_page : page * per_page])
    rels: list[tuple[str, int]] = []
    if page > 1:
        rels += [("prev", page - 1), ("first", 1)]
    if page < last:
        rels += [("next", page + 1), ("last", last)]
    links = ", ".join(f'<{_page_url(req, number)}>; rel="{rel}"' for rel, number in rels)
    return Reply(200, chunk, {"Link": links} if links else {})


def _page_url(req: Request, page: int) -> str:
    query = {key: value for key, value in req.query.items() if key != "page"}
    query["page"] = str(page)
    return f"{req.urls.api}{req.path}?{urlencode(query)}"
