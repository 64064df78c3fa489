"""Replies and the route table: method plus path pattern to handler, with 404 and 405 answered the host's way."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import unquote

H = TypeVar("H")
H_co = TypeVar("H_co", covariant=True)  # a Route is frozen: a route of a narrower handler is a Route[Handler]


@dataclass
class Request:
    """One API call, the API prefix already stripped from `path`; each host adds who calls, the URLs
    for its answer (built from the request's Host) and the route's parameters."""

    method: str
    path: str
    query: dict[str, str]
    body: Any

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object ({} for none); the host's `not_an_object()` error for anything else."""
        if self.body is None:
            return {}
        if not isinstance(self.body, dict):
            raise self.not_an_object()
        return self.body

    def not_an_object(self) -> Exception:
        raise NotImplementedError


@dataclass
class Reply:
    """What a handler answers: status, JSON-able body (None: no body, a str: text) and extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Route(Generic[H_co]):
    """A method plus a full-match path pattern with named groups, and its handler."""

    method: str
    pattern: re.Pattern[str]
    handler: H_co


def path_pattern(pattern: str) -> re.Pattern[str]:
    """`{name}` matches one path segment, `{name*}` the rest (branch names hold "/")."""
    regex = re.sub(r"\{(\w+)\*\}", r"(?P<\1>.+)", pattern)
    return re.compile(re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex))


def route(method: str, pattern: str, handler: H) -> Route[H]:
    """Declare a route (see `path_pattern` for the placeholders)."""
    return Route(method, path_pattern(pattern), handler)


R = TypeVar("R", bound=Route[Any])


class RouteTable(Generic[R]):
    """Routes in order: the first whose pattern matches the whole path and whose method is the request's wins.

    `not_found` and `not_allowed` make the host's own errors for no matching path and a wrong method.
    """

    def __init__(
        self, routes: Iterable[R], *, not_found: Callable[[], Exception], not_allowed: Callable[[], Exception]
    ) -> None:
        self.routes = list(routes)
        self.not_found = not_found
        self.not_allowed = not_allowed

    def resolve(self, method: str, path: str) -> tuple[R, dict[str, str]]:
        """The route for `method path` and its URL-decoded parameters; raises 404 or 405."""
        path_matched = False
        for candidate in self.routes:
            match = candidate.pattern.fullmatch(path)
            if match is None:
                continue
            path_matched = True
            if candidate.method == method:
                return candidate, {key: unquote(value) for key, value in match.groupdict().items()}
        raise self.not_allowed() if path_matched else self.not_found()


def int_or(value: str | None, default: int) -> int:
    """A query parameter as a number; `default` when absent or malformed (hosts ignore a bad page/per_page)."""
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default
