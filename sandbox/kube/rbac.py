"""RBAC, simulated: which namespaces (or the whole cluster) the portal's service account may read.

A real cluster grants the portal a ClusterRole (list everywhere) or Roles in chosen
namespaces; a request outside the grant gets the authorizer's 403 wording. The policy
is per cluster and applies to every read verb (`get`, `list`, `watch`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sandbox.kube.errors import forbidden
from sandbox.kube.resources import Resource

DEFAULT_USER = "system:serviceaccount:gitops-portal:portal"


@dataclass(frozen=True)
class Policy:
    """`cluster_wide`: a ClusterRole binding; else Roles in `namespaces`. `resources` limits the plurals."""

    cluster_wide: bool = True
    namespaces: frozenset[str] = frozenset()
    resources: frozenset[str] | None = None

    @classmethod
    def of(cls, *, cluster_wide: bool, namespaces: Iterable[str] | None, resources: Iterable[str] | None) -> Policy:
        return cls(cluster_wide, frozenset(namespaces or ()), None if resources is None else frozenset(resources))

    def permits(self, resource: Resource, namespace: str | None) -> bool:
        """Whether a read of `resource` in `namespace` (None: at the cluster scope) is granted."""
        if self.resources is not None and resource.plural not in self.resources:
            return False
        return self.cluster_wide or (namespace is not None and namespace in self.namespaces)


def authorize(
    policy: Policy, user: str, verb: str, resource: Resource, namespace: str | None, name: str | None = None
) -> None:
    """Raise the 403 the API server would answer, or return when the read is allowed.

    A namespace object is authorised "in" its own namespace, as Kubernetes does for
    `get namespaces/<name>`, so a Role in that namespace may read it.
    """
    scope = name if resource.plural == "namespaces" and name else namespace
    if not policy.permits(resource, scope):
        raise forbidden(resource, verb, user, scope, name)
