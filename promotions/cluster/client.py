"""Kubernetes, read-only, through the official client: the only module that imports it.

A refresh lists each workload kind, and each Flux or Argo CD kind, once per cluster
(cluster-wide, workloads narrowed by a label key) or, where the portal may only read some
namespaces (the usual least-privilege RBAC), once per namespace. Responses are parsed as
plain JSON with orjson (no model objects: fast at thousands of items). Every call has a timeout;
failures become reasons in words. A cluster without an operator's CRDs is not an error:
`OperatorListing.missing` says "Flux is not installed in this cluster".
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from promotions.errors import TransientError

log = logging.getLogger(__name__)

KINDS = {  # kind -> (API group label, namespaced list method, cluster-wide list method, client)
    "Deployment": ("deployments", "list_namespaced_deployment", "list_deployment_for_all_namespaces", "apps"),
    "StatefulSet": ("statefulsets", "list_namespaced_stateful_set", "list_stateful_set_for_all_namespaces", "apps"),
    "DaemonSet": ("daemonsets", "list_namespaced_daemon_set", "list_daemon_set_for_all_namespaces", "apps"),
    "ReplicaSet": ("replicasets", "list_namespaced_replica_set", "list_replica_set_for_all_namespaces", "apps"),
    "Pod": ("pods", "list_namespaced_pod", "list_pod_for_all_namespaces", "core"),
}
OPERATOR_KINDS = {  # kind -> (API group, version, plural, the operator it belongs to)
    "Kustomization": ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations", "Flux"),
    "HelmRelease": ("helm.toolkit.fluxcd.io", "v2", "helmreleases", "Flux"),
    "GitRepository": ("source.toolkit.fluxcd.io", "v1", "gitrepositories", "Flux"),
    "OCIRepository": ("source.toolkit.fluxcd.io", "v1", "ocirepositories", "Flux"),
    "Application": ("argoproj.io", "v1alpha1", "applications", "Argo CD"),
}
# Where a cluster-wide list was refused, namespaced lists are used for a while without asking again.
_FORBIDDEN_TTL = 600.0
_forbidden: dict[tuple[str, str], float] = {}
_forbidden_lock = threading.Lock()


class ClusterUnavailable(TransientError):
    """The cluster cannot be read at all (credentials, network, timeout); `reason` is for people."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass
class Listing:
    """What one refresh read from a cluster: objects by kind, and namespaces it could not read."""

    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)  # namespace -> reason
    calls: int = 0


@dataclass
class OperatorListing:
    """Flux and Argo CD objects read from a cluster, by kind, as plain dicts.

    `missing` names the kinds the cluster has no CRD for ("Flux is not installed in this cluster"),
    `unreadable` the namespaces the portal may not read.
    """

    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # kind -> reason
    unreadable: dict[str, str] = field(default_factory=dict)  # namespace (or plural, cluster-wide) -> reason
    calls: int = 0


class KubeCluster:
    """One stage's cluster, as its kubeconfig context (or the in-cluster account) describes it."""

    def __init__(self, *, name: str, kubeconfig: str | None, context: str | None, timeout: float) -> None:
        self.name = name
        self.kubeconfig = kubeconfig
        self.context = context
        self.timeout = timeout
        self._client: Any = None

    def read(self, *, namespaces: Iterable[str], kinds: Iterable[str], label_key: str | None) -> Listing:
        """List `kinds` in `namespaces` (ClusterUnavailable if the cluster cannot be read)."""
        listing = Listing()
        wanted = sorted(set(namespaces))
        for kind in kinds:
            listing.objects[kind] = self._read_kind(kind, wanted, label_key, listing)
        return listing

    def read_operators(self, *, kinds: Iterable[str], namespaces: Iterable[str] = ()) -> OperatorListing:
        """List the operator `kinds` (see OPERATOR_KINDS) once each across the cluster, or in `namespaces`
        where a cluster-wide list is forbidden (ClusterUnavailable if the cluster cannot be read)."""
        listing = OperatorListing()
        wanted = sorted(set(namespaces))
        for kind in kinds:
            try:
                listing.objects[kind] = self._read_operator_kind(kind, wanted, listing)
            except _NotInstalled:
                listing.objects[kind] = []
                listing.missing[kind] = f"{OPERATOR_KINDS[kind][3]} is not installed in this cluster"
        return listing

    def _read_operator_kind(self, kind: str, namespaces: list[str], listing: OperatorListing) -> list[dict[str, Any]]:
        if not self._cluster_wide_forbidden(kind):
            try:
                listing.calls += 1
                return self._list_custom(kind, None)
            except _Forbidden:
                with _forbidden_lock:
                    _forbidden[(self._identity, kind)] = time.monotonic() + _FORBIDDEN_TTL
        if not namespaces:  # nowhere else to look: say so rather than report nothing
            plural = OPERATOR_KINDS[kind][2]
            listing.unreadable[plural] = (
                f"forbidden: the portal's service account cannot list {plural} across the cluster"
            )
            return []
        found: list[dict[str, Any]] = []
        for namespace in namespaces:  # a Role may grant one operator kind and not another: ask for each
            try:
                listing.calls += 1
                found += self._list_custom(kind, namespace)
            except _Forbidden as exc:
                listing.unreadable.setdefault(namespace, str(exc))
        return found

    def _list_custom(self, kind: str, namespace: str | None) -> list[dict[str, Any]]:
        group, version, plural, _ = OPERATOR_KINDS[kind]
        api = self._api("custom")
        kwargs: dict[str, Any] = {"_preload_content": False, "_request_timeout": (self.timeout, self.timeout)}
        if namespace is None:
            return self._call(plural, None, api.list_cluster_custom_object, group, version, plural, **kwargs)
        method = api.list_namespaced_custom_object
        return self._call(plural, namespace, method, group, version, namespace, plural, **kwargs)

    def _read_kind(
        self, kind: str, namespaces: list[str], label_key: str | None, listing: Listing
    ) -> list[dict[str, Any]]:
        if len(namespaces) > 1 and not self._cluster_wide_forbidden(kind):
            try:
                listing.calls += 1
                items = self._list(kind, None, label_key)
                return [i for i in items if i.get("metadata", {}).get("namespace") in namespaces]
            except _Forbidden:
                with _forbidden_lock:
                    _forbidden[(self._identity, kind)] = time.monotonic() + _FORBIDDEN_TTL
        found: list[dict[str, Any]] = []
        for namespace in namespaces:
            if namespace in listing.unreadable:
                continue
            try:
                listing.calls += 1
                found += self._list(kind, namespace, label_key)
            except _Forbidden as exc:
                listing.unreadable[namespace] = str(exc)
        return found

    def _cluster_wide_forbidden(self, kind: str) -> bool:
        with _forbidden_lock:
            return _forbidden.get((self._identity, kind), 0.0) > time.monotonic()

    @property
    def _identity(self) -> str:
        return f"{self.kubeconfig or '-'}#{self.context or '-'}"

    def _list(self, kind: str, namespace: str | None, label_key: str | None) -> list[dict[str, Any]]:
        resource, namespaced, cluster_wide, group = KINDS[kind]
        api = self._api(group)
        kwargs: dict[str, Any] = {"_preload_content": False, "_request_timeout": (self.timeout, self.timeout)}
        if label_key:
            kwargs["label_selector"] = label_key
        if namespace is None:
            return self._call(resource, namespace, getattr(api, cluster_wide), **kwargs)
        return self._call(resource, namespace, getattr(api, namespaced), namespace, **kwargs)

    def _call(
        self, resource: str, namespace: str | None, method: Any, *args: Any, **kwargs: Any
    ) -> list[dict[str, Any]]:
        """One list call, its items as plain dicts; every failure in words."""
        from kubernetes.client.exceptions import ApiException

        try:
            return list(orjson.loads(method(*args, **kwargs).data).get("items") or [])
        except ApiException as exc:
            raise self._api_error(exc, resource, namespace) from None
        except Exception as exc:  # urllib3: timeouts, refused connections, TLS
            raise ClusterUnavailable(self._network_reason(exc)) from None

    def _api(self, group: str) -> Any:
        from kubernetes import client

        if self._client is None:
            self._client = self._new_client()
        if group == "custom":
            return client.CustomObjectsApi(self._client)
        return client.AppsV1Api(self._client) if group == "apps" else client.CoreV1Api(self._client)

    def _new_client(self) -> Any:
        from kubernetes import client, config

        configuration = client.Configuration()
        try:
            if self.kubeconfig or self.context or _has_kubeconfig():
                config.load_kube_config(config_file=self.kubeconfig, context=self.context,
                                        client_configuration=configuration, persist_config=False)  # fmt: skip
            else:
                config.load_incluster_config(client_configuration=configuration)
        except (config.ConfigException, OSError, ValueError, TypeError) as exc:
            where = self.kubeconfig or "the default kubeconfig"
            raise ClusterUnavailable(f"cannot use {where}{self._context_text()}: {exc}") from None
        configuration.retries = False  # one attempt per call: the timeout is the whole wait
        self.host = configuration.host
        return client.ApiClient(configuration)

    def _context_text(self) -> str:
        return f" (context {self.context})" if self.context else ""

    def _api_error(self, exc: Any, resource: str, namespace: str | None) -> Exception:
        where = f"in namespace {namespace}" if namespace else "across the cluster"
        if not exc.status:  # the client wraps transport failures (TLS, …) as status 0
            return ClusterUnavailable(self._network_reason(Exception(" ".join(str(exc.reason).split()))))
        if exc.status == 404 and resource in _CUSTOM_PLURALS:  # the group is not served: no CRD
            return _NotInstalled(resource)
        if exc.status == 403:
            return _Forbidden(f"forbidden: the portal's service account cannot list {resource} {where}")
        if exc.status == 401:
            return ClusterUnavailable(
                f"unauthorized: {self.name}'s cluster rejected the portal's credentials{self._context_text()}"
            )
        message = _status_message(exc.body) or exc.reason or "error"
        return ClusterUnavailable(f"the cluster answered {exc.status} listing {resource} {where}: {message}")

    def _network_reason(self, exc: Exception) -> str:
        text = str(exc)
        host = getattr(self, "host", "the cluster")
        if "timed out" in text.lower() or "timeout" in type(exc).__name__.lower():
            return f"timed out after {self.timeout:g}s waiting for {host}"
        if "ssl" in text.lower() or "certificate" in text.lower():
            return f"TLS error talking to {host}: {text}"
        if "refused" in text.lower():
            return f"cannot reach {host}: connection refused"
        return f"cannot reach {host}: {text}"


class _Forbidden(Exception):
    pass


class _NotInstalled(Exception):
    pass


_CUSTOM_PLURALS = {plural for _, _, plural, _ in OPERATOR_KINDS.values()}


def _status_message(body: Any) -> str:
    try:
        return str(json.loads(body).get("message", ""))
    except (TypeError, ValueError):
        return ""


def _has_kubeconfig() -> bool:
    import os

    return bool(os.environ.get("KUBECONFIG")) or (Path.home() / ".kube" / "config").exists()
