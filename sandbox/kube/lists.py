"""List requests: query options, selectors, `limit`/`continue` paging and the `…List` body.

Items come in etcd key order (namespace, then name). As on the real server, list items
carry no `kind`/`apiVersion` (only the list does; kubernetes/kubernetes#3030), and
`remainingItemCount` is only reported when no selector filtered the list.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from sandbox.kube.errors import bad_request, expired, too_large_resource_version
from sandbox.kube.resources import Resource
from sandbox.kube.selectors import FieldRequirement, Requirement, fields_match, labels_match, parse_fields, parse_labels
from sandbox.kube.store import Cluster, Obj

TRUE = ("true", "1")


@dataclass(frozen=True)
class Query:
    """The options of one list or watch request, parsed from its query string."""

    labels: list[Requirement]
    fields: list[FieldRequirement]
    limit: int
    continue_token: str
    resource_version: str
    timeout: int
    watch: bool
    bookmarks: bool

    @property
    def filtered(self) -> bool:
        return bool(self.labels or self.fields)


def parse_query(resource: Resource, params: dict[str, str]) -> Query:
    """Parse `labelSelector`, `fieldSelector`, `limit`, `continue`, `resourceVersion`, `timeoutSeconds`, `watch`."""
    return Query(
        labels=parse_labels(params.get("labelSelector")),
        fields=parse_fields(params.get("fieldSelector"), resource.field_labels),
        limit=_integer(params, "limit"),
        continue_token=params.get("continue", ""),
        resource_version=params.get("resourceVersion", ""),
        timeout=_integer(params, "timeoutSeconds"),
        watch=params.get("watch", "").lower() in TRUE,
        bookmarks=params.get("allowWatchBookmarks", "").lower() in TRUE,
    )


def _integer(params: dict[str, str], name: str) -> int:
    value = params.get(name, "")
    try:
        return max(int(value), 0) if value else 0
    except ValueError as error:
        raise bad_request(f'strconv.ParseInt: parsing "{value}": invalid syntax ({name})') from error


def selected(query: Query, namespace: str | None, obj: Obj) -> bool:
    """Whether `obj` is in the request's namespace (if any) and matches both selectors."""
    if namespace is not None and obj["metadata"].get("namespace") != namespace:
        return False
    return labels_match(query.labels, obj) and fields_match(query.fields, obj)


def list_body(cluster: Cluster, resource: Resource, namespace: str | None, query: Query) -> dict[str, Any]:
    """The `…List` answer for one page; call with the store's lock held."""
    list_rv = _list_resource_version(cluster, query)
    start = _decode_continue(query.continue_token, cluster) if query.continue_token else None
    if start is not None:
        list_rv = start[0]
    matching = [obj for obj in cluster.items(resource, namespace) if selected(query, namespace, obj)]
    if start is not None:
        matching = [obj for obj in matching if _position(obj) > start[1]]
    page = matching[: query.limit] if query.limit else matching
    metadata: dict[str, Any] = {"resourceVersion": str(list_rv)}
    if len(page) < len(matching):
        metadata["continue"] = _encode_continue(list_rv, _position(page[-1]))
        if not query.filtered:
            metadata["remainingItemCount"] = len(matching) - len(page)
    items = [{key: value for key, value in obj.items() if key not in ("kind", "apiVersion")} for obj in page]
    return {"kind": resource.list_kind, "apiVersion": resource.api_version, "metadata": metadata, "items": items}


def _list_resource_version(cluster: Cluster, query: Query) -> int:
    # Any resourceVersion the server has reached is served from the current state ("not older than").
    wanted = query.resource_version
    if wanted and wanted != "0":
        if not wanted.isdigit():
            raise bad_request(f"invalid resource version: {wanted}")
        if int(wanted) > cluster.rv:
            raise too_large_resource_version(int(wanted), cluster.rv)
    return cluster.rv


def _position(obj: Obj) -> tuple[str, str]:
    meta = obj["metadata"]
    return (meta.get("namespace", ""), meta["name"])


def _encode_continue(rv: int, position: tuple[str, str]) -> str:
    token = {"v": "meta.k8s.io/v1", "rv": rv, "start": f"{position[0]}/{position[1]}\u0000"}
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode().rstrip("=")


def _decode_continue(token: str, cluster: Cluster) -> tuple[int, tuple[str, str]]:
    """(resourceVersion, last position served) from a continue token; 400 if malformed, 410 if too old."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        rv, start = int(data["rv"]), str(data["start"]).rstrip("\u0000")
        namespace, _, name = start.partition("/")
    except (binascii.Error, ValueError, KeyError, TypeError) as error:
        raise bad_request(f"continue key is not valid: {error}") from error
    if rv < cluster.compacted:
        raise expired("The provided continue parameter is too old to display a consistent list result.")
    return rv, (namespace, name)
