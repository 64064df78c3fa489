"""Discovery and version endpoints: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/<group>`, `/apis/<group>/<version>`.

The named groups are `apps` and the custom resource groups of Flux and Argo CD (see `resources.GROUPS`).

Minimal but valid: enough for `VersionApi.get_code()`, `CoreApi.get_api_versions()`,
`ApisApi.get_api_versions()` and `…Api.get_api_resources()` (and for kubectl's discovery).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sandbox.kube.resources import BUILTIN_GROUPS, GROUPS, in_group

VERSION = {
    "major": "1",
    "minor": "33",
    "emulationMajor": "1",
    "emulationMinor": "33",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "32",
    "gitVersion": "v1.33.1",
    "gitCommit": "8adc0f041b8e7ad1d30e29cc59c6ae7a15e19828",
    "gitTreeState": "clean",
    "buildDate": "2025-05-15T08:19:08Z",
    "goVersion": "go1.24.2",
    "compiler": "gc",
    "platform": "linux/amd64",
}
PUBLIC_PATHS = ("/version", "/healthz", "/livez", "/readyz")  # readable without credentials (system:public-info-viewer)


def answer(segments: list[str], host: str, installed: Collection[str] = ()) -> Any | None:
    """The discovery document for a path (split into segments), or None when it is not a discovery path;
    `installed` are the custom resource groups the cluster has CRDs for."""
    served = {name: version for name, version in GROUPS.items() if name in BUILTIN_GROUPS or name in installed}
    path = "/" + "/".join(segments)
    if path in ("/healthz", "/livez", "/readyz"):
        return "ok"
    if path == "/version":
        return dict(VERSION)
    if path == "/":
        groups = [path for name, version in served.items() for path in (f"/apis/{name}", f"/apis/{name}/{version}")]
        return {"paths": ["/api", "/api/v1", "/apis", *groups, *PUBLIC_PATHS]}
    if path == "/api":
        return _api_versions(host)
    if path == "/api/v1":
        return _resource_list("", "v1")
    if path == "/apis":
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group(name) for name in served]}
    if len(segments) == 2 and segments[0] == "apis" and segments[1] in served:
        return {"kind": "APIGroup", "apiVersion": "v1", **_group(segments[1])}
    if len(segments) == 3 and segments[0] == "apis" and served.get(segments[1]) == segments[2]:
        return _resource_list(segments[1], segments[2])
    return None


def _api_versions(host: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
    }


def _group(name: str) -> dict[str, Any]:
    version = {"groupVersion": f"{name}/{GROUPS[name]}", "version": GROUPS[name]}
    return {"name": name, "versions": [version], "preferredVersion": version}


def _resource_list(group: str, version: str) -> dict[str, Any]:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": [resource.discovery() for resource in in_group(group, version)],
    }
