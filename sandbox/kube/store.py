"""The stand-in's state: objects per virtual cluster, resourceVersions and the watch history.

Everything lives under one re-entrant `Condition` (`Store.lock`); watchers wait on it and
are woken by every change. Stored dicts are never mutated in place — a change stores a
fresh copy — so an `Event` is a stable snapshot that can be serialised outside the lock.
Like etcd, every cluster has one resourceVersion counter shared by all its objects.
"""

from __future__ import annotations

import bisect
import copy
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox.kube.rbac import Policy
from sandbox.kube.resources import BUILTIN_GROUPS, Resource, of_object

Obj = dict[str, Any]
Key = tuple[str, str, str]  # (plural, namespace or "", name)
FIRST_RESOURCE_VERSION = 1000
SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")


def now() -> str:
    """The current time as Kubernetes writes timestamps (RFC 3339, seconds, UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Event:
    """One change: `obj` is the new state (for DELETED the last state), `old` the previous one."""

    rv: int
    type: str
    resource: Resource
    obj: Obj
    old: Obj | None


@dataclass
class Cluster:
    """One virtual cluster: its objects, resourceVersion counter, watch history and RBAC policy."""

    name: str
    objects: dict[Key, Obj] = field(default_factory=dict)
    rv: int = FIRST_RESOURCE_VERSION
    events: list[Event] = field(default_factory=list)
    compacted: int = FIRST_RESOURCE_VERSION  # events at or below this rv are no longer retained
    policy: Policy = field(default_factory=Policy)
    groups: set[str] = field(default_factory=set)  # custom resource groups whose CRDs are installed

    def items(self, resource: Resource, namespace: str | None = None) -> list[Obj]:
        """Stored objects of one resource (in one namespace), in etcd key order."""
        keys = sorted(key for key in self.objects if key[0] == resource.plural and namespace in (None, key[1]))
        return [self.objects[key] for key in keys]

    def events_after(self, rv: int) -> list[Event]:
        return self.events[bisect.bisect_right(self.events, rv, key=lambda event: event.rv) :]


class Store:
    """All clusters, behind one lock; `history` events per cluster are kept for watches."""

    def __init__(self, history: int = 10_000) -> None:
        self.lock = threading.Condition(threading.RLock())
        self.clusters: dict[str, Cluster] = {}
        self.history = history

    def add_cluster(self, name: str) -> Cluster:
        """A new empty cluster with the namespaces every real cluster has; idempotent."""
        with self.lock:
            if name not in self.clusters:
                self.clusters[name] = Cluster(name)
                for namespace in SYSTEM_NAMESPACES:
                    self.put(name, namespace_object(namespace))
            return self.clusters[name]

    def cluster(self, name: str) -> Cluster:
        """The named cluster (KeyError if it was never added)."""
        with self.lock:
            return self.clusters[name]

    def put(self, cluster_name: str, obj: Obj) -> Obj:
        """Create or replace an object, filling server-set metadata; returns a copy of what is stored."""
        resource = of_object(obj)
        with self.lock:
            cluster = self.cluster(cluster_name)
            new = copy.deepcopy(obj)
            meta = new.setdefault("metadata", {})
            if not meta.get("name"):
                raise ValueError(f"a {resource.kind} needs metadata.name")
            if resource.group not in BUILTIN_GROUPS and resource.group not in cluster.groups:
                raise ValueError(f"{cluster_name} has no CRD for {resource.qualified}: install its operator first")
            if resource.namespaced:
                meta["namespace"] = meta.get("namespace") or "default"
                self._ensure_namespace(cluster, meta["namespace"])
            else:
                meta.pop("namespace", None)
            key = (resource.plural, meta.get("namespace", ""), meta["name"])
            old = cluster.objects.get(key)
            _fill_metadata(resource, new, old)
            if old is not None and _same(old, new):
                return copy.deepcopy(old)
            self._record(cluster, key, resource, new, old)
            return copy.deepcopy(new)

    def remove(self, cluster_name: str, resource: Resource, namespace: str | None, name: str) -> Obj | None:
        """Delete an object and, like the garbage collector, everything it owns; returns it (or None)."""
        with self.lock:
            cluster = self.cluster(cluster_name)
            key = _key(resource, namespace, name)
            gone = cluster.objects.get(key)
            if gone is None:
                return None
            self._record(cluster, key, resource, None, gone)
            for dependent in _dependents(cluster, resource, gone):
                self.remove(
                    cluster_name, of_object(dependent), dependent["metadata"].get("namespace"), _name(dependent)
                )
            return copy.deepcopy(gone)

    def get(self, cluster_name: str, resource: Resource, namespace: str | None, name: str) -> Obj | None:
        with self.lock:
            found = self.cluster(cluster_name).objects.get(_key(resource, namespace, name))
            return copy.deepcopy(found) if found is not None else None

    def _ensure_namespace(self, cluster: Cluster, namespace: str) -> None:
        # The real server refuses objects in a missing namespace; the stand-in creates it, as a test would.
        if ("namespaces", "", namespace) not in cluster.objects:
            self.put(cluster.name, namespace_object(namespace))

    def _record(self, cluster: Cluster, key: Key, resource: Resource, new: Obj | None, old: Obj | None) -> None:
        cluster.rv += 1
        if new is None:
            assert old is not None
            snapshot = copy.deepcopy(old)
            snapshot["metadata"]["resourceVersion"] = str(cluster.rv)
            del cluster.objects[key]
            event = Event(cluster.rv, "DELETED", resource, snapshot, old)
        else:
            new["metadata"]["resourceVersion"] = str(cluster.rv)
            cluster.objects[key] = new
            event = Event(cluster.rv, "MODIFIED" if old is not None else "ADDED", resource, new, old)
        cluster.events.append(event)
        self._compact(cluster)
        self.lock.notify_all()

    def _compact(self, cluster: Cluster) -> None:
        if len(cluster.events) > self.history:
            drop = len(cluster.events) - self.history // 2
            cluster.compacted = cluster.events[drop - 1].rv
            del cluster.events[:drop]


def namespace_object(name: str) -> Obj:
    """A Namespace as the server shows it (phase Active, the automatic name label)."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def _fill_metadata(resource: Resource, new: Obj, old: Obj | None) -> None:
    meta, previous = new["metadata"], (old or {}).get("metadata", {})
    meta["uid"] = previous.get("uid") or meta.get("uid") or str(uuid.uuid4())
    meta["creationTimestamp"] = previous.get("creationTimestamp") or meta.get("creationTimestamp") or now()
    meta.pop("resourceVersion", None)
    if resource.kind != "Namespace":
        changed = old is not None and old.get("spec") != new.get("spec")
        meta["generation"] = previous.get("generation", 0) + 1 if changed else previous.get("generation", 1)


def _same(old: Obj, new: Obj) -> bool:
    """Equal apart from resourceVersion: the server does not bump it for a no-op update."""
    stripped = copy.deepcopy(old)
    stripped["metadata"].pop("resourceVersion", None)
    return stripped == new


def _dependents(cluster: Cluster, resource: Resource, owner: Obj) -> list[Obj]:
    if resource.kind == "Namespace":
        return [obj for key, obj in cluster.objects.items() if key[1] == _name(owner) and key[0] != "namespaces"]
    uid = owner["metadata"]["uid"]
    owned = []
    for obj in cluster.objects.values():
        if any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or ()):
            owned.append(obj)
    return owned


def _name(obj: Obj) -> str:
    return str(obj["metadata"]["name"])


def _key(resource: Resource, namespace: str | None, name: str) -> Key:
    return (resource.plural, (namespace or "") if resource.namespaced else "", name)
