"""Requests, replies, the route table and GitLab's offset pagination.

Every URL the stand-in hands out is built from the request's `Host` header (`Urls`), so
a client that reaches the server as `localhost:8123` gets links it can follow (and
python-gitlab's "base URL differs" warning stays quiet).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlencode

from sandbox.gitlab.errors import ApiError

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
class Request:
    """One authenticated API call, /api/v4 already stripped from `path` (which stays URL-encoded)."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    user: User
    urls: Urls
    params: dict[str, str] = field(default_factory=dict)

    def data(self) -> dict[str, Any]:
        """The call's parameters: query string and JSON body together, the body winning (Grape merges them)."""
        body = self.body if isinstance(self.body, dict) else {}
        return {**self.query, **body}


@dataclass
class Reply:
    """What a handler answers: status, JSON-able body (None: no body, a str: text) and extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[["Backend", Request], Reply]


@dataclass(frozen=True)
class Route:
    """A method plus a full-match path pattern with named groups, its handler, and the status that
    refuses a token without write rights (403, but 401 for accepting a merge request, as GitLab answers)."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler
    refused: int = 403


def route(method: str, pattern: str, handler: Handler, *, refused: int = 403) -> Route:
    """Declare a route; `{name}` matches one path segment (GitLab wants "/" in ids encoded as %2F)."""
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
    return Route(method, re.compile(regex), handler, refused)


def resolve(routes: Sequence[Route], method: str, path: str) -> tuple[Route, dict[str, str]]:
    """The route for `method path` and its decoded parameters; 404 for no path, 405 for a wrong method."""
    path_matched = False
    for candidate in routes:
        match = candidate.pattern.fullmatch(path)
        if match is None:
            continue
        path_matched = True
        if candidate.method == method:
            return candidate, {key: unquote(value) for key, value in match.groupdict().items()}
    if path_matched:
        raise ApiError(405, "405 Method Not Allowed")
    raise ApiError(404, "404 Not Found", key="error")


def paginate(req: Request, items: Sequence[Any]) -> Reply:
    """One page of `items` per `page`/`per_page`, with GitLab's `X-*` headers and an RFC 5988 `Link`."""
    per_page = min(max(_int(req.query.get("per_page"), DEFAULT_PER_PAGE), 1), MAX_PER_PAGE)
    page = max(_int(req.query.get("page"), 1), 1)
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


def _int(value: str | None, default: int) -> int:
    # GitLab falls back to the default for a malformed page/per_page rather than rejecting the call.
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def flag(value: Any) -> bool:
    """A boolean parameter as Grape coerces it: JSON true, or "true"/"1" in a query string."""
    return value is True or str(value).lower() in ("true", "1")


def names(value: Any) -> list[str]:
    """A label list: a JSON array or a comma-separated string (python-gitlab sends either)."""
    items = value if isinstance(value, list) else str(value or "").split(",")
    return [str(item).strip() for item in items if str(item).strip()]
