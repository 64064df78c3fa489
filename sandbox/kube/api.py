"""From raw request to answer: cluster prefix, request log, faults, authentication, routing, RBAC.

Socket-free on purpose (`server.py` does the HTTP), so the order of concerns reads top
to bottom in `Api.handle`. Every cluster lives under `/clusters/<name>`; below it the
paths are the API server's own (`/apis/apps/v1/namespaces/shop/deployments`, `/api/v1/pods`, …).
"""

from __future__ import annotations

import re
import threading
import traceback
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, unquote

from sandbox.kube import discovery, lists, watch
from sandbox.kube.errors import KubeError, bad_request, method_not_allowed, no_such_path, not_found, unauthorized
from sandbox.kube.faults import FaultBook
from sandbox.kube.rbac import authorize
from sandbox.kube.resources import BUILTIN_GROUPS, Resource, by_path
from sandbox.kube.store import Store

CLUSTER_PATH = re.compile(r"/clusters/(?P<cluster>[^/?]+)(?P<rest>/.*)?")


class Call(NamedTuple):
    """One request that reached a cluster: cluster, method, path below the prefix, query parameters."""

    cluster: str
    method: str
    path: str
    query: dict[str, str]


@dataclass
class Reply:
    """A complete answer: status, body (dict → JSON, str → text) and extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Stream:
    """A streamed 200 answer (a watch): newline-delimited JSON objects, sent chunk by chunk."""

    events: Iterator[dict[str, Any]]


@dataclass(frozen=True)
class Target:
    """What a resource path names: a collection (name None) or one object, maybe as a watch."""

    resource: Resource
    namespace: str | None
    name: str | None
    watch: bool


class Api:
    """The request pipeline shared by every server thread."""

    def __init__(self, store: Store, faults: FaultBook, token: str, user: str, stopping: threading.Event) -> None:
        self.store = store
        self.faults = faults
        self.token = token
        self.user = user
        self.stopping = stopping
        self._log_lock = threading.Lock()
        self._calls: list[Call] = []

    def handle(self, method: str, target: str, authorization: str | None, host: str) -> Reply | Stream:
        """Answer one HTTP request; `host` is the request's Host header."""
        raw_path, _, raw_query = target.partition("?")
        match = CLUSTER_PATH.fullmatch(raw_path)
        if match is None or unquote(match["cluster"]) not in self.store.clusters:
            return _error(no_such_path())
        cluster, path = unquote(match["cluster"]), _normalise(match["rest"])
        params = dict(parse_qsl(raw_query, keep_blank_values=True))
        self._record(Call(cluster, method, path, params))
        fault = self.faults.claim(cluster, method, path)
        if fault is not None and fault.delay:
            self.stopping.wait(fault.delay)
        if fault is not None and fault.status is not None:
            return Reply(fault.status, fault.reply_body())
        try:
            self._authenticate(path, authorization)
            return self._serve(cluster, method, path, params, host)
        except KubeError as error:
            return _error(error)
        except Exception as error:  # a stand-in bug: answer like the API server would, keep serving
            traceback.print_exc()
            return _error(KubeError(500, "InternalError", f"Internal error occurred: {error}"))

    @property
    def calls(self) -> list[Call]:
        with self._log_lock:
            return list(self._calls)

    def clear_calls(self) -> None:
        with self._log_lock:
            self._calls.clear()

    def _record(self, call: Call) -> None:
        with self._log_lock:
            self._calls.append(call)

    def _authenticate(self, path: str, authorization: str | None) -> None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() == "bearer" and token.strip() == self.token:
            return
        if authorization is None and path in discovery.PUBLIC_PATHS:
            return  # anonymous requests may read the version and health endpoints
        raise unauthorized()

    def _serve(self, cluster: str, method: str, path: str, params: dict[str, str], host: str) -> Reply | Stream:
        segments = [unquote(segment) for segment in path.split("/") if segment]
        with self.store.lock:
            installed = frozenset(self.store.cluster(cluster).groups)
        document = discovery.answer(segments, host, installed)
        target = resolve(segments, installed) if document is None else None
        if method != "GET":
            raise method_not_allowed()
        if target is None:
            return Reply(200, document)
        return self._read(cluster, target, params)

    def _read(self, cluster: str, target: Target, params: dict[str, str]) -> Reply | Stream:
        query = lists.parse_query(target.resource, params)
        is_watch = target.watch or query.watch
        verb = "get" if target.name else "watch" if is_watch else "list"
        with self.store.lock:
            policy = self.store.cluster(cluster).policy
        authorize(policy, self.user, verb, target.resource, target.namespace, target.name)
        if target.name is not None:
            return Reply(200, self._get(cluster, target))
        if is_watch:
            if query.resource_version and not query.resource_version.isdigit():
                raise bad_request(f"invalid resource version: {query.resource_version}")
            request = watch.WatchRequest(cluster, target.resource, target.namespace, query)
            return Stream(watch.events(self.store, request, self.stopping))
        with self.store.lock:
            return Reply(200, lists.list_body(self.store.cluster(cluster), target.resource, target.namespace, query))

    def _get(self, cluster: str, target: Target) -> dict[str, Any]:
        assert target.name is not None
        obj = self.store.get(cluster, target.resource, target.namespace, target.name)
        if obj is None:
            raise not_found(target.resource, target.name)
        return obj


def resolve(segments: list[str], installed: Collection[str] = ()) -> Target:
    """The resource, namespace and name a path names; 404 `Status` when the server serves no such path
    (a custom resource whose group is not in `installed` included: its CRD does not exist)."""
    if segments[:1] == ["api"] and len(segments) >= 3:
        group, version, rest = "", segments[1], segments[2:]
    elif segments[:1] == ["apis"] and len(segments) >= 4:
        group, version, rest = segments[1], segments[2], segments[3:]
    else:
        raise no_such_path()
    is_watch = rest[:1] == ["watch"]  # the deprecated /watch/ paths
    rest = rest[1:] if is_watch else rest
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    resource = by_path(group, version, rest[0]) if rest else None
    if resource is not None and resource.group not in BUILTIN_GROUPS and resource.group not in installed:
        raise no_such_path()
    if resource is None or len(rest) > 3 or (len(rest) == 3 and rest[2] != "status"):
        raise no_such_path()
    if (namespace is not None) != resource.namespaced and not (resource.namespaced and len(rest) == 1):
        raise no_such_path()
    return Target(resource, namespace, rest[1] if len(rest) > 1 else None, is_watch)


def _normalise(path: str | None) -> str:
    """The path below the cluster prefix, without a trailing slash (the client asks for `/api/`)."""
    return "/" + (path or "").strip("/")


def _error(error: KubeError) -> Reply:
    return Reply(error.code, error.body)
