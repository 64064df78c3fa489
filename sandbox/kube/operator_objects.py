"""Flux and Argo CD objects as their controllers leave them: spec plus a status written by the operator.

The shapes follow the CRDs (Flux `kustomize.toolkit.fluxcd.io/v1`, `helm.toolkit.fluxcd.io/v2`,
`source.toolkit.fluxcd.io/v1`; Argo CD `argoproj.io/v1alpha1`): Flux revisions in the
`<branch>@sha1:<sha>` form, `Ready`/`Reconciling`/`Stalled` conditions with reason and message,
HelmRelease `status.history` (newest first); Argo CD `status.sync`, `status.health`,
`status.operationState` and `status.conditions`. A builder makes a reconciled, healthy object
unless told otherwise (`ready=False` with a reason and message: a failure as Flux reports it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from sandbox.kube.store import Obj, now

FLUX_NAMESPACE = "flux-system"
ARGOCD_NAMESPACE = "argocd"


def flux_condition(kind: str, status: bool | None, reason: str, message: str, generation: int = 1) -> Obj:
    """One metav1.Condition as Flux writes it (`status` None: "Unknown")."""
    return {
        "type": kind,
        "status": "Unknown" if status is None else "True" if status else "False",
        "observedGeneration": generation,
        "lastTransitionTime": now(),
        "reason": reason,
        "message": message,
    }


def flux_revision(branch: str, sha: str) -> str:
    """`main@sha1:<sha>`: how Flux v2 (source-controller v1) writes a Git revision."""
    return f"{branch}@sha1:{sha}"


def git_repository(
    name: str, url: str, *, branch: str = "main", sha: str, namespace: str = FLUX_NAMESPACE, interval: str = "1m"
) -> Obj:
    """A GitRepository that fetched `branch` at `sha` and stored the artifact."""
    revision = flux_revision(branch, sha)
    spec = {"interval": interval, "url": url, "ref": {"branch": branch}, "timeout": "60s"}
    status = {
        "observedGeneration": 1,
        "artifact": _artifact("gitrepository", namespace, name, revision, sha),
        "conditions": [
            flux_condition("Ready", True, "Succeeded", f"stored artifact for revision '{revision}'"),
            flux_condition("ArtifactInStorage", True, "Succeeded", f"stored artifact for revision '{revision}'"),
        ],
    }
    return _object("source.toolkit.fluxcd.io/v1", "GitRepository", name, namespace, spec, status)


def oci_repository(
    name: str, url: str, *, tag: str = "latest", digest: str, namespace: str = FLUX_NAMESPACE, interval: str = "5m"
) -> Obj:
    """An OCIRepository that pulled `tag` at `digest` (`sha256:…`): revision `latest@sha256:…`."""
    revision = f"{tag}@{digest}"
    spec = {"interval": interval, "url": url, "ref": {"tag": tag}, "timeout": "60s"}
    status = {
        "observedGeneration": 1,
        "url": f"http://source-controller.{FLUX_NAMESPACE}.svc.cluster.local./ocirepository/{namespace}/{name}/latest.tar.gz",
        "artifact": _artifact("ocirepository", namespace, name, revision, digest.partition(":")[2]),
        "conditions": [flux_condition("Ready", True, "Succeeded", f"stored artifact for digest '{revision}'")],
    }
    return _object("source.toolkit.fluxcd.io/v1", "OCIRepository", name, namespace, spec, status)


def kustomization(
    name: str,
    *,
    path: str,
    source: str = "flux-system",
    revision: str,
    applied: str | None = None,
    namespace: str = FLUX_NAMESPACE,
    ready: bool | None = True,
    reason: str | None = None,
    message: str | None = None,
    source_kind: str = "GitRepository",
    stalled: bool = False,
) -> Obj:
    """A Kustomization that attempted `revision` and applied `applied` (default: the same one).

    `ready=False` with `reason` (`BuildFailed`, `ReconciliationFailed`, …) and `message` is a failure
    (the last applied revision stays the older one); `ready=None` is a reconciliation in progress.
    """
    spec = {
        "interval": "10m",
        "path": path,
        "prune": True,
        "sourceRef": {"kind": source_kind, "name": source},
        "timeout": "5m",
    }
    status: Obj = {"observedGeneration": 1, "lastAttemptedRevision": revision, "conditions": []}
    if ready is not False and applied is None:
        applied = revision
    if applied:
        status["lastAppliedRevision"] = applied
    status["conditions"] = _conditions(ready, reason, message, f"Applied revision: {revision}", revision)
    if stalled:  # an error Flux will not retry its way out of (an invalid path, a missing source)
        status["conditions"].append(flux_condition("Stalled", True, reason or "InvalidPath", message or "stalled"))
    return _object("kustomize.toolkit.fluxcd.io/v1", "Kustomization", name, namespace, spec, status)


def helm_release(
    name: str,
    namespace: str,
    *,
    chart: str,
    version: str,
    installed: str,
    repository: str = "podinfo",
    app_version: str | None = None,
    ready: bool | None = True,
    reason: str | None = None,
    message: str | None = None,
) -> Obj:
    """A HelmRelease of `chart` (version range `version`) whose release runs chart version `installed`."""
    spec = {
        "interval": "10m",
        "chart": {
            "spec": {
                "chart": chart,
                "version": version,
                "sourceRef": {"kind": "HelmRepository", "name": repository, "namespace": FLUX_NAMESPACE},
                "interval": "10m",
            }
        },
    }
    snapshot = {
        "name": name,
        "namespace": namespace,
        "version": 1,
        "status": "deployed" if ready is not False else "failed",
        "chartName": chart,
        "chartVersion": installed,
        "appVersion": app_version or installed,
        "configDigest": "sha256:" + _digest(f"{name}/{installed}/config"),
        "digest": "sha256:" + _digest(f"{name}/{installed}"),
        "firstDeployed": now(),
        "lastDeployed": now(),
    }
    ok = f"Helm install succeeded for release {namespace}/{name}.v1 with chart {chart}@{installed}"
    status: Obj = {
        "observedGeneration": 1,
        "lastAttemptedGeneration": 1,
        "lastAttemptedRevision": installed,
        "lastAttemptedConfigDigest": snapshot["configDigest"],
        "lastAttemptedReleaseAction": "install",
        "helmChart": f"{FLUX_NAMESPACE}/{namespace}-{name}",
        "history": [snapshot],
        "conditions": _conditions(ready, reason or ("InstallSucceeded" if ready else None), message, ok, None),
    }
    if ready is not False:
        status["conditions"].append(flux_condition("Released", True, "InstallSucceeded", ok))
    return _object("helm.toolkit.fluxcd.io/v2", "HelmRelease", name, namespace, spec, status)


def application(
    name: str,
    *,
    repo_url: str,
    revision: str,
    path: str | None = None,
    sources: Sequence[Mapping[str, Any]] | None = None,
    destination: str = "default",
    target: str = "main",
    sync: str = "Synced",
    health: str = "Healthy",
    phase: str = "Succeeded",
    message: str = "successfully synced (all tasks run)",
    conditions: Sequence[tuple[str, str]] = (),
    namespace: str = ARGOCD_NAMESPACE,
) -> Obj:
    """An Argo CD Application of one source (`path`) or several (`sources`), synced to `revision`.

    `conditions` are `(type, message)` pairs such as `("ComparisonError", "…")`; `phase` "Failed" or
    "Error" with `message` is a failed sync operation.
    """
    spec: Obj = {
        "project": "default",
        "destination": {"server": "https://kubernetes.default.svc", "namespace": destination},
    }
    sync_status: Obj = {"status": sync}
    result: Obj = {"resources": []}
    if sources is not None:
        spec["sources"] = [dict(source) for source in sources]
        revisions = [revision] * len(sources)
        sync_status.update(
            revisions=revisions, comparedTo={"sources": spec["sources"], "destination": spec["destination"]}
        )
        result.update(revisions=revisions, sources=spec["sources"])
    else:
        spec["source"] = {"repoURL": repo_url, "path": path or ".", "targetRevision": target}
        sync_status.update(revision=revision, comparedTo={"source": spec["source"], "destination": spec["destination"]})
        result.update(revision=revision, source=spec["source"])
    spec["syncPolicy"] = {"automated": {"prune": True, "selfHeal": True}}
    status = {
        "sync": sync_status,
        "health": {"status": health},
        "operationState": {
            "operation": {"sync": {"revision": revision}, "initiatedBy": {"automated": True}},
            "phase": phase,
            "message": message,
            "syncResult": result,
            "startedAt": now(),
            "finishedAt": now(),
        },
        "conditions": [{"type": kind, "message": text, "lastTransitionTime": now()} for kind, text in conditions],
        "reconciledAt": now(),
        "sourceType": "Helm" if any("helm" in s for s in spec.get("sources", [])) else "Kustomize",
    }
    return _object("argoproj.io/v1alpha1", "Application", name, namespace, spec, status)


def _conditions(
    ready: bool | None, reason: str | None, message: str | None, ok: str, revision: str | None
) -> list[Obj]:
    if ready is None:
        progress = message or f"Reconciliation in progress{f' for revision {revision}' if revision else ''}"
        return [
            flux_condition("Reconciling", True, reason or "Progressing", progress),
            flux_condition("Ready", None, reason or "Progressing", progress),
        ]
    if ready:
        return [flux_condition("Ready", True, reason or "ReconciliationSucceeded", message or ok)]
    return [flux_condition("Ready", False, reason or "ReconciliationFailed", message or "reconciliation failed")]


def _artifact(kind: str, namespace: str, name: str, revision: str, sha: str) -> Obj:
    return {
        "revision": revision,
        "digest": "sha256:" + _digest(revision),
        "path": f"{kind}/{namespace}/{name}/{sha}.tar.gz",
        "url": f"http://source-controller.{FLUX_NAMESPACE}.svc.cluster.local./{kind}/{namespace}/{name}/{sha}.tar.gz",
        "lastUpdateTime": now(),
        "size": 4096,
    }


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _object(api_version: str, kind: str, name: str, namespace: str, spec: Obj, status: Obj) -> Obj:
    meta = {"name": name, "namespace": namespace, "finalizers": ["finalizers.fluxcd.io"]}
    if api_version.startswith("argoproj.io"):
        meta["finalizers"] = ["resources-finalizer.argocd.argoproj.io"]
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, "spec": spec, "status": status}
