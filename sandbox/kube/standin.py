"""`KubeStandIn`: the object tests, the demo and the benchmarks hold.

One HTTP server on 127.0.0.1 hosts several virtual clusters, each under
`/clusters/<name>`; the kubernetes client reaches one through a kubeconfig whose
server URL is that prefix. The Python methods (`apply`, `get`, `allow`, `inject`, …)
set the scene and read the state directly, without HTTP.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sandbox.httpserver import Serving
from sandbox.kube import builders, kubeconfig, operator_objects, rollout
from sandbox.kube.api import Api, Call
from sandbox.kube.faults import Fault, FaultBook
from sandbox.kube.rbac import DEFAULT_USER, Policy
from sandbox.kube.resources import OPERATOR_GROUPS, lookup
from sandbox.kube.server import KubeServer
from sandbox.kube.store import Obj, Store


class KubeStandIn(Serving):
    """A Kubernetes API server stand-in: read-only over HTTP, writable from Python."""

    deployment = staticmethod(builders.deployment)
    statefulset = staticmethod(builders.statefulset)
    daemonset = staticmethod(builders.daemonset)
    # Flux and Argo CD objects with the status their controllers write (`apply` them).
    kustomization = staticmethod(operator_objects.kustomization)
    helm_release = staticmethod(operator_objects.helm_release)
    git_repository = staticmethod(operator_objects.git_repository)
    oci_repository = staticmethod(operator_objects.oci_repository)
    application = staticmethod(operator_objects.application)

    def __init__(
        self,
        token: str = "portal-token",
        *,
        user: str = DEFAULT_USER,
        host: str = "127.0.0.1",
        port: int = 0,
        clusters: Iterable[str] = (),
    ) -> None:
        self.host, self.port = host, port
        self.store = Store()
        self.faults = FaultBook()
        self._stopping = threading.Event()
        self.api = Api(self.store, self.faults, token, user, self._stopping)
        for name in clusters:
            self.add_cluster(name)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> KubeStandIn:
        """Serve in a background thread (on a free port unless one was given); idempotent."""
        if not self.serving:
            self._stopping.clear()
            self._serve(KubeServer((self.host, self.port), self.api), "kube-standin")
        return self

    def stop(self) -> None:
        """Stop serving; open watches end within a moment and delayed answers are cut short. Idempotent."""
        self._stopping.set()
        with self.store.lock:
            self.store.lock.notify_all()
        self._unserve()

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`: the server root."""
        if not self.port:
            raise RuntimeError("start() the stand-in first: its port is chosen when it starts")
        return super().url

    @property
    def token(self) -> str:
        """The one bearer token the server accepts (assignable, e.g. to simulate a rotated token)."""
        return self.api.token

    @token.setter
    def token(self, value: str) -> None:
        self.api.token = value

    # -- clusters and kubeconfig -----------------------------------------------------------

    def add_cluster(self, name: str) -> None:
        """Serve a new, empty cluster (with the usual system namespaces) under `/clusters/<name>`."""
        if not name or "/" in name:
            raise ValueError(f"invalid cluster name {name!r}")
        self.store.add_cluster(name)

    def install(self, cluster: str, operator: str) -> None:
        """Install the CRDs of `operator` ("flux" or "argocd") in `cluster`: their groups are served from now on."""
        groups = OPERATOR_GROUPS[operator]
        with self.store.lock:
            self.store.cluster(cluster).groups.update(groups)

    @property
    def clusters(self) -> list[str]:
        with self.store.lock:
            return list(self.store.clusters)

    def cluster_url(self, name: str) -> str:
        """The cluster's base URL: the client's `host`, API paths are appended to it."""
        return f"{self.url}/clusters/{name}"

    def write_kubeconfig(
        self, path: Path | str, clusters: Sequence[str] | None = None, token: str | None = None
    ) -> Path:
        """Write a kubeconfig with one context per cluster (named like it); `token` defaults to the valid one."""
        names = list(clusters) if clusters is not None else self.clusters
        servers = {name: self.cluster_url(name) for name in names}
        return kubeconfig.write(Path(path), kubeconfig.kubeconfig(servers, token if token is not None else self.token))

    # -- objects ---------------------------------------------------------------------------

    def apply(self, cluster: str, obj: Obj) -> Obj:
        """Create or replace an object (its namespace is created if missing); returns what is stored."""
        return self.store.put(cluster, obj)

    def deploy(self, cluster: str, deployment: Obj) -> Obj:
        """Apply a Deployment as if its rollout had finished: its ReplicaSet and ready Pods exist too."""
        return rollout.create(self.store, cluster, deployment)

    def delete(self, cluster: str, kind: str, namespace: str | None, name: str) -> Obj | None:
        """Delete an object and what it owns (background cascade); returns it, or None if absent."""
        return self.store.remove(cluster, lookup(kind), namespace, name)

    def get(self, cluster: str, kind: str, namespace: str | None, name: str) -> Obj | None:
        """A copy of one stored object (`kind` like "Deployment" or "deployments"), or None."""
        return self.store.get(cluster, lookup(kind), namespace, name)

    def objects(self, cluster: str, kind: str, namespace: str | None = None) -> list[Obj]:
        """Copies of the stored objects of one kind (in one namespace), by namespace and name."""
        with self.store.lock:
            return copy.deepcopy(self.store.cluster(cluster).items(lookup(kind), namespace))

    def resource_version(self, cluster: str) -> str:
        """The cluster's current resourceVersion (what a list would report)."""
        with self.store.lock:
            return str(self.store.cluster(cluster).rv)

    # -- RBAC, faults and the request log --------------------------------------------------

    def allow(
        self,
        cluster: str,
        *,
        cluster_wide: bool = True,
        namespaces: Iterable[str] | None = None,
        resources: Iterable[str] | None = None,
    ) -> None:
        """What the portal's service account may read in `cluster`: everything (`cluster_wide`), or only
        `namespaces`; `resources` (plurals such as "deployments") narrows either. Others get 403."""
        policy = Policy.of(cluster_wide=cluster_wide, namespaces=namespaces, resources=resources)
        with self.store.lock:
            self.store.cluster(cluster).policy = policy

    def inject(
        self,
        cluster: str | None,
        *,
        method: str = "GET",
        path: str = "",
        status: int | None = None,
        times: int | None = 1,
        delay: float = 0.0,
        body: Any = None,
    ) -> Fault:
        """Fault the next `times` requests (None: all) to `cluster` (None: any) whose path below the
        cluster prefix matches the regex `path`: wait `delay` seconds, then answer `status` with `body`
        (a Status with the usual reason by default), or serve normally when `status` is None."""
        return self.faults.add(Fault(cluster, method, path, status, times, delay, body))

    def clear_faults(self) -> None:
        self.faults.clear()

    @property
    def calls(self) -> list[Call]:
        """Every request that reached a cluster: (cluster, method, path below the prefix, query dict)."""
        return self.api.calls

    def clear_calls(self) -> None:
        self.api.clear_calls()
