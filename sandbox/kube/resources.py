"""The resource types the stand-in serves, described the way API discovery describes them.

One `Resource` per REST collection: its URL name (`plural`), its `kind`, API group and
version, whether it lives in a namespace, and the field labels its `fieldSelector`
accepts (the real server rejects any other field with 400).
"""

from __future__ import annotations

from dataclasses import dataclass

COMMON_FIELDS = ("metadata.name", "metadata.namespace")
POD_FIELDS = (
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
)
READ_VERBS = ["get", "list", "watch"]


@dataclass(frozen=True)
class Resource:
    """One served collection, e.g. `deployments` in group `apps`, version `v1`."""

    plural: str
    kind: str
    group: str
    version: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    extra_fields: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        """`apps/v1` for grouped resources, `v1` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def qualified(self) -> str:
        """`deployments.apps` / `pods`: how error messages name the resource."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def field_labels(self) -> tuple[str, ...]:
        return COMMON_FIELDS + self.extra_fields

    def discovery(self) -> dict[str, object]:
        """This resource as an `APIResource` entry of an `APIResourceList`."""
        entry: dict[str, object] = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": READ_VERBS,
        }
        if self.short_names:
            entry["shortNames"] = list(self.short_names)
        return entry


RESOURCES: tuple[Resource, ...] = (
    Resource("namespaces", "Namespace", "", "v1", False, ("ns",), ("status.phase",)),
    Resource("pods", "Pod", "", "v1", True, ("po",), POD_FIELDS),
    Resource("deployments", "Deployment", "apps", "v1", True, ("deploy",)),
    Resource("replicasets", "ReplicaSet", "apps", "v1", True, ("rs",)),
    Resource("statefulsets", "StatefulSet", "apps", "v1", True, ("sts",)),
    Resource("daemonsets", "DaemonSet", "apps", "v1", True, ("ds",)),
    # The custom resources of Flux and Argo CD, as their CRDs name them.
    Resource("kustomizations", "Kustomization", "kustomize.toolkit.fluxcd.io", "v1", True, ("ks",)),
    Resource("helmreleases", "HelmRelease", "helm.toolkit.fluxcd.io", "v2", True, ("hr",)),
    Resource("gitrepositories", "GitRepository", "source.toolkit.fluxcd.io", "v1", True, ("gitrepo",)),
    Resource("ocirepositories", "OCIRepository", "source.toolkit.fluxcd.io", "v1", True, ("ocirepo",)),
    Resource("applications", "Application", "argoproj.io", "v1alpha1", True, ("app", "apps")),
)
# Named API groups and their one (preferred) version; all but `apps` exist once their CRDs are installed.
GROUPS: dict[str, str] = {
    "apps": "v1",
    "kustomize.toolkit.fluxcd.io": "v1",
    "helm.toolkit.fluxcd.io": "v2",
    "source.toolkit.fluxcd.io": "v1",
    "argoproj.io": "v1alpha1",
}
BUILTIN_GROUPS = frozenset({"", "apps"})
OPERATOR_GROUPS: dict[str, tuple[str, ...]] = {  # what installing each operator's CRDs adds
    "flux": ("kustomize.toolkit.fluxcd.io", "helm.toolkit.fluxcd.io", "source.toolkit.fluxcd.io"),
    "argocd": ("argoproj.io",),
}


def by_path(group: str, version: str, plural: str) -> Resource | None:
    """The resource served at `/apis/{group}/{version}/{plural}` (group "" for `/api/v1`), if any."""
    for resource in RESOURCES:
        if (resource.group, resource.version, resource.plural) == (group, version, plural):
            return resource
    return None


def lookup(name: str) -> Resource:
    """A resource by kind, plural, singular or short name, case-insensitive ("Deployment", "deploy")."""
    wanted = name.lower()
    for resource in RESOURCES:
        if wanted in (resource.plural, resource.singular, *resource.short_names):
            return resource
    raise KeyError(f"the stand-in serves no resource called {name!r}")


def of_object(obj: dict[str, object]) -> Resource:
    """The resource an object belongs to, from its `apiVersion` and `kind`."""
    for resource in RESOURCES:
        if (resource.api_version, resource.kind) == (obj.get("apiVersion"), obj.get("kind")):
            return resource
    raise KeyError(f"the stand-in serves no {obj.get('apiVersion')}/{obj.get('kind')}")


def in_group(group: str, version: str) -> list[Resource]:
    """Every resource of one group version, for its `APIResourceList`."""
    return [resource for resource in RESOURCES if (resource.group, resource.version) == (group, version)]
