"""Requests, replies, the route table and GitHub-style pagination.

Every URL the stand-in hands out is built from the request's `Host` header (`Urls`), so
a client that reaches the server as `localhost:8123` or through a proxy gets links it
can follow.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlencode

from sandbox.github.errors import ApiError

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
class Request:
    """One authenticated API call, the prefix already stripped from `path`."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    login: str
    urls: Urls
    params: dict[str, str] = field(default_factory=dict)

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object, or GitHub's 400 for anything else."""
        if self.body is None:
            return {}
        if not isinstance(self.body, dict):
            raise ApiError(400, "Problems parsing JSON")
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
    """Find the first handler for `method path`; 404 when no path matches, 405 for a wrong method."""
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
    raise ApiError(404, "Not Found")


def paginate(req: Request, items: Sequence[Any]) -> Reply:
    """One page of `items` per `page`/`per_page`, with an RFC 5988 `Link` header like GitHub's."""
    per_page = min(max(_int(req.query.get("per_page"), DEFAULT_PER_PAGE), 1), MAX_PER_PAGE)
    page = max(_int(req.query.get("page"), 1), 1)
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


def _int(value: str | None, default: int) -> int:
    # GitHub ignores a malformed page/per_page rather than rejecting the call.
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default
