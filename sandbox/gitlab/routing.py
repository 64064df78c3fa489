"""Requests, replies, the route table and GitLab's offset pagination.

Every URL the stand-in hands out is built from the request's `Host` header (`Urls`), so
a client that reaches the server as `localhost:8123` gets links it can follow (and
python-gitlab's "base URL differs" warning stays quiet).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from sandbox.gitlab.errors import ApiError, not_allowed
from sandbox.hosting import routing
from sandbox.hosting.routing import Reply, int_or

if TYPE_CHECKING:
    from sandbox.gitlab.store import Backend, User

PREFIX = "/api/v4"
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100


@dataclass(frozen=True)
class Urls:
    """Base addresses for one request: `api` (with /api/v4) and `web` (the html side, also the instance URL)."""

    api: str
    web: str

    @classmethod
    def for_host(cls, host: str) -> Urls:
        return cls(api=f"http://{host}{PREFIX}", web=f"http://{host}")

    def user(self, username: str) -> str:
        return f"{self.web}/{username}"

    def project(self, full_path: str) -> str:
        return f"{self.web}/{full_path}"


@dataclass
class Request(routing.Request):
    """One authenticated API call, /api/v4 already stripped from `path` (which stays URL-encoded)."""

    user: User
    urls: Urls
    params: dict[str, str] = field(default_factory=dict)

    def data(self) -> dict[str, Any]:
        """The call's parameters: query string and JSON body together, the body winning (Grape merges them)."""
        body = self.body if isinstance(self.body, dict) else {}
        return {**self.query, **body}


Handler = Callable[["Backend", Request], Reply]


@dataclass(frozen=True)
class Route(routing.Route[Handler]):
    """A route plus the status that refuses a token without write rights (403, but 401 for accepting
    a merge request, as GitLab answers)."""

    refused: int = 403


def route(method: str, pattern: str, handler: Handler, *, refused: int = 403) -> Route:
    """Declare a route; `{name}` matches one path segment (GitLab wants "/" in ids encoded as %2F)."""
    return Route(method, routing.path_pattern(pattern), handler, refused)


def route_table(*groups: Iterable[Route]) -> routing.RouteTable[Route]:
    """GitLab's routes: `{"error": "404 Not Found"}` for an unknown path, 405 for a wrong method."""
    return routing.RouteTable(
        chain(*groups), not_found=lambda: ApiError(404, "404 Not Found", key="error"), not_allowed=not_allowed
    )


def paginate(req: Request, items: Sequence[Any]) -> Reply:
    """One page of `items` per `page`/`per_page`, with GitLab's `X-*` headers and an RFC 5988 `Link`
    (a malformed page/per_page falls back to the default rather than being refused)."""
    per_page = min(max(int_or(req.query.get("per_page"), DEFAULT_PER_PAGE), 1), MAX_PER_PAGE)
    page = max(int_or(req.query.get("page"), 1), 1)
    pages = max(math.ceil(len(items) / per_page), 1)
    chunk = list(items[(page - 1) * per_page : page * per_page])
    headers = {
        "X-Total": str(len(items)),
        "X-Total-Pages": str(pages),
        "X-Page": str(page),
        "X-Per-Page": str(per_page),
        "X-Next-Page": str(page + 1) if page < pages else "",
        "X-Prev-Page": str(page - 1) if page > 1 else "",
        "Link": _links(req, page, pages, per_page),
    }
    return Reply(200, chunk, headers)


def _links(req: Request, page: int, pages: int, per_page: int) -> str:
    rels = [("prev", page - 1)] if page > 1 else []
    rels += [("next", page + 1)] if page < pages else []
    rels += [("first", 1), ("last", pages)]
    return ", ".join(f'<{_page_url(req, number, per_page)}>; rel="{rel}"' for rel, number in rels)


def _page_url(req: Request, page: int, per_page: int) -> str:
    query = {key: value for key, value in req.query.items() if key not in ("page", "per_page")}
    query.update(page=str(page), per_page=str(per_page))
    return f"{req.urls.api}{req.path}?{urlencode(query)}"


def flag(value: Any) -> bool:
    """A boolean parameter as Grape coerces it: JSON true, or "true"/"1" in a query string."""
    return value is True or str(value).lower() in ("true", "1")


def names(value: Any) -> list[str]:
    """A label list: a JSON array or a comma-separated string (python-gitlab sends either)."""
    items = value if isinstance(value, list) else str(value or "").split(",")
    return [str(item).strip() for item in items if str(item).strip()]
