"""Watches: a stream of `{"type": …, "object": …}` events after a resourceVersion.

Semantics follow the API server's watch cache:
- no `resourceVersion` (or "0"): synthetic ADDED events for what exists, then changes;
- a resourceVersion: every change after it; one older than the retained history gets a
  single ERROR event carrying a 410 `Expired` Status (HTTP status stays 200);
- with selectors, an object that starts matching arrives as ADDED and one that stops
  matching as DELETED (its previous state);
- `allowWatchBookmarks=true` adds BOOKMARK events when idle and just before the timeout;
- the stream ends after `timeoutSeconds` (or when the stand-in stops).
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sandbox.kube.errors import status_body
from sandbox.kube.lists import Query, selected
from sandbox.kube.resources import Resource
from sandbox.kube.store import Cluster, Event, Obj, Store

DEFAULT_TIMEOUT = 1800  # seconds: the server's --min-request-timeout when the client asks for none
BOOKMARK_EVERY = 1.0  # seconds without an event before a bookmark (the real server: about a minute)
POLL = 0.25  # seconds between checks of the deadline while idle


@dataclass
class WatchRequest:
    """What one watch asks for: which cluster, resource, namespace (None: all) and options."""

    cluster: str
    resource: Resource
    namespace: str | None
    query: Query


def events(store: Store, request: WatchRequest, stopping: threading.Event) -> Iterator[dict[str, Any]]:
    """Yield watch events until the timeout passes or `stopping` is set."""
    deadline = time.monotonic() + (request.query.timeout or DEFAULT_TIMEOUT)
    with store.lock:
        cluster = store.cluster(request.cluster)
        initial, cursor = _start(cluster, request)
    if cursor < 0:
        yield _too_old(request, cluster)
        return
    yield from initial
    last_sent = time.monotonic()
    while not stopping.is_set() and time.monotonic() < deadline:
        pending = _wait(store, cluster, cursor, deadline)
        if cursor < cluster.compacted:
            yield _too_old(request, cluster)
            return
        for event in pending:
            cursor = event.rv
            if (converted := convert(event, request)) is not None:
                last_sent = time.monotonic()
                yield converted
        idle = time.monotonic() - last_sent >= BOOKMARK_EVERY
        if request.query.bookmarks and idle and time.monotonic() < deadline:  # the final bookmark follows anyway
            last_sent = time.monotonic()
            yield bookmark(request.resource, cursor)
    if request.query.bookmarks:
        yield bookmark(request.resource, max(cursor, cluster.rv))


def _start(cluster: Cluster, request: WatchRequest) -> tuple[list[dict[str, Any]], int]:
    """The initial events and the resourceVersion to continue after (-1 when too old)."""
    wanted = request.query.resource_version
    if wanted in ("", "0"):
        current = cluster.items(request.resource, request.namespace)
        initial = [_event("ADDED", obj) for obj in current if selected(request.query, request.namespace, obj)]
        return initial, cluster.rv
    cursor = int(wanted) if wanted.isdigit() else -1
    return [], cursor if cursor >= cluster.compacted else -1


def _wait(store: Store, cluster: Cluster, cursor: int, deadline: float) -> list[Event]:
    with store.lock:
        pending = cluster.events_after(cursor)
        if not pending:
            store.lock.wait(max(min(POLL, deadline - time.monotonic()), 0))
            pending = cluster.events_after(cursor)
        return pending


def convert(event: Event, request: WatchRequest) -> dict[str, Any] | None:
    """The event this watcher sees for one change, or None when the change is outside its selection."""
    if event.resource != request.resource:
        return None
    if event.type == "DELETED":
        return _event("DELETED", event.obj) if selected(request.query, request.namespace, event.obj) else None
    now_in = selected(request.query, request.namespace, event.obj)
    was_in = event.old is not None and selected(request.query, request.namespace, event.old)
    if now_in:
        return _event("MODIFIED" if was_in else "ADDED", event.obj)
    if was_in:
        assert event.old is not None
        gone = copy.deepcopy(event.old)
        gone["metadata"]["resourceVersion"] = str(event.rv)
        return _event("DELETED", gone)
    return None


def bookmark(resource: Resource, rv: int) -> dict[str, Any]:
    """A BOOKMARK: only kind, apiVersion and the resourceVersion the watcher has caught up to."""
    obj = {"kind": resource.kind, "apiVersion": resource.api_version, "metadata": {"resourceVersion": str(rv)}}
    return {"type": "BOOKMARK", "object": obj}


def _event(kind: str, obj: Obj) -> dict[str, Any]:
    return {"type": kind, "object": obj}


def _too_old(request: WatchRequest, cluster: Cluster) -> dict[str, Any]:
    message = f"too old resource version: {request.query.resource_version} ({cluster.compacted + 1})"
    return {"type": "ERROR", "object": status_body(410, "Expired", message)}
