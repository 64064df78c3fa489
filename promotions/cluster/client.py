"""Kubernetes, read-only, through the official client: the only module that imports it.

A refresh lists each workload kind once per cluster (cluster-wide, narrowed by a label
key) or, where the portal may only read some namespaces (the usual least-privilege
RBAC), once per namespace. Responses are parsed as plain JSON (no model objects: fast
at thousands of items). Every call has a timeout; failures become reasons in words.
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

from promotions.errors import TransientError

log = logging.getLogger(__name__)

KINDS = {  # kind -> (API group label, namespaced list method, cluster-wide list method, client)
    "Deployment": ("deployments", "list_namespaced_deployment", "list_deployment_for_all_namespaces", "apps"),
    "StatefulSet": ("statefulsets", "list_namespaced_stateful_set", "list_stateful_set_for_all_namespaces", "apps"),
    "DaemonSet": ("daemonsets", "list_namespaced_daemon_set", "list_daemon_set_for_all_namespaces", "apps"),
    "ReplicaSet": ("replicasets", "list_namespaced_replica_set", "list_replica_set_for_all_namespaces", "apps"),
    "Pod": ("pods", "list_namespaced_pod", "list_pod_for_all_namespaces", "core"),
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
        from kubernetes.client.exceptions import ApiException

        resource, namespaced, cluster_wide, group = KINDS[kind]
        api = self._api(group)
        kwargs: dict[str, Any] = {"_preload_content": False, "_request_timeout": (self.timeout, self.timeout)}
        if label_key:
            kwargs["label_selector"] = label_key
        try:
            if namespace is None:
                response = getattr(api, cluster_wide)(**kwargs)
            else:
                response = getattr(api, namespaced)(namespace, **kwargs)
            return list(json.loads(response.data).get("items") or [])
        except ApiException as exc:
            raise self._api_error(exc, resource, namespace) from None
        except Exception as exc:  # urllib3: timeouts, refused connections, TLS
            raise ClusterUnavailable(self._network_reason(exc)) from None

    def _api(self, group: str) -> Any:
        from kubernetes import client

        if self._client is None:
            self._client = self._new_client()
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


def _status_message(body: Any) -> str:
    try:
        return str(json.loads(body).get("message", ""))
    except (TypeError, ValueError):
        return ""


def _has_kubeconfig() -> bool:
    import os

    return bool(os.environ.get("KUBECONFIG")) or (Path.home() / ".kube" / "config").exists()
