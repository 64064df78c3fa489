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
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlencode

from sandbox.gitea.errors import ApiError, binding_error, not_found

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
class Request:
    """One authenticated API call, the `/api/v1` prefix already stripped from `path`."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    login: str
    urls: Urls
    params: dict[str, str] = field(default_factory=dict)

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; anything else fails binding like Gitea (422)."""
        if self.body is None:
            return {}
        if not isinstance(self.body, dict):
            raise binding_error("", "DeserializationError")
        return self.body


@dataclass
class Reply:
    """What a handler answers: status, JSON-able body (None means no body) and extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[["Backend", Request], Reply]


@dataclass(frozen=True)
class Route:
    """A method plus a full-match path pattern with named groups, and its handler."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler


def route(method: str, pattern: str, handler: Handler) -> Route:
    """Declare a route; `{name}` matches one path segment, `{name*}` the rest (branch names hold "/")."""
    regex = re.sub(r"\{(\w+)\*\}", r"(?P<\1>.+)", pattern)
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
    return Route(method, re.compile(regex), handler)


def resolve(routes: Sequence[Route], method: str, path: str) -> tuple[Handler, dict[str, str]]:
    """The first handler for `method path` (routes are ordered like chi's: literal segments first)."""
    path_matched = False
    for candidate in routes:
        match = candidate.pattern.fullmatch(path)
        if match is None:
            continue
        path_matched = True
        if candidate.method == method:
            return candidate.handler, {key: unquote(value) for key, value in match.groupdict().items()}
    if path_matched:
        raise ApiError(405, "Method Not Allowed")
    raise not_found()


def page_and_limit(req: Request) -> tuple[int, int]:
    """Gitea's `GetListOptions`: page < 1 is 1, limit < 1 is the default, limit is capped."""
    page = max(_int(req.query.get("page"), 1), 1)
    limit = _int(req.query.get("limit"), 0)
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


def _int(value: str | None, default: int) -> int:
    # Gitea's ctx.FormInt: anything unparsable reads as 0, i.e. "not given".
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default
