"""Pure rules over Flux and Argo CD objects (as `client.read_operators` lists them): no I/O.

- Revisions: Flux writes `main@sha1:<sha>` (source-controller v1), older releases `main/<sha>`,
  OCI sources `latest@sha256:<digest>`; HelmReleases a chart version.
- States: `Ready`/`Reconciling`/`Stalled` conditions, or an Application's sync, health, operation
  and conditions, into one `OperatorState`.
- Matching: which object applies a cell's file (a Kustomization's `spec.path` under its
  GitRepository's URL and branch; an Application's `source(s)` path, or a Helm value file).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Obj = Mapping[str, Any]
SHA = re.compile(r"[0-9a-f]{7,64}")
ARGO_ERRORS = ("ComparisonError", "SyncError", "InvalidSpecError", "UnknownError")
ARGO_FAILED_PHASES = ("Failed", "Error")


@dataclass(frozen=True)
class Revision:
    """A parsed operator revision: `ref` (branch or tag, may be ""), `algorithm` ("sha1", "sha256", "") and `digest`."""

    ref: str
    algorithm: str
    digest: str

    @property
    def commit(self) -> str:
        """The Git commit, when the revision names one ("" for an OCI digest or a chart version)."""
        return self.digest if self.algorithm == "sha1" else ""


@dataclass(frozen=True)
class OperatorState:
    """What the operator says about one object: the revision it applied and whether it is ready.

    `ready` is None while the operator is still reconciling (or says nothing).
    """

    kind: str
    name: str
    namespace: str
    revision: str
    ready: bool | None
    reason: str
    message: str


def revision_parse(text: str) -> Revision:
    """`main@sha1:abc…`, `refs/heads/main@sha1:abc…`, `sha1:abc…`, `main/abc…`, `latest@sha256:…` or a bare sha."""
    text = (text or "").strip()
    ref, at, rest = text.rpartition("@")
    if not at:
        ref, rest = "", text
    algorithm, colon, digest = rest.partition(":")
    if colon and algorithm in ("sha1", "sha256", "blake3"):
        return Revision(_branch(ref), algorithm, digest.lower())
    head, slash, tail = text.rpartition("/")
    if slash and SHA.fullmatch(tail.lower()):  # Flux before v2.0: `main/<sha>`
        return Revision(_branch(head), "sha1", tail.lower())
    if SHA.fullmatch(text.lower()) and len(text) >= 40:
        return Revision("", "sha1", text.lower())
    return Revision(text, "", "")  # a chart version or a tag


def flux_state(kind: str, obj: Obj) -> OperatorState:
    """A Flux object's state: the revision it applied (a source's artifact, a release's chart version) and
    its conditions: Stalled wins over Ready; Reconciling with Ready not yet True is "in progress"."""
    status = obj.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    ready, stalled, reconciling = conditions.get("Ready"), conditions.get("Stalled"), conditions.get("Reconciling")
    verdict: bool | None
    cause: Obj
    if stalled is not None and _true(stalled):
        verdict, cause = False, stalled
    elif ready is not None and ready.get("status") in ("True", "False"):
        verdict, cause = ready.get("status") == "True", ready
    else:  # still reconciling; a HelmRelease retrying after a failed upgrade says why in `Released`
        released = conditions.get("Released")
        failed = released if released is not None and released.get("status") == "False" else None
        verdict, cause = None, failed or reconciling or ready or {}
    meta = obj.get("metadata") or {}
    return OperatorState(
        kind, str(meta.get("name", "")), str(meta.get("namespace", "")), _flux_revision(kind, status),
        verdict, str(cause.get("reason", "")), str(cause.get("message", "")),
    )  # fmt: skip


def argo_state(obj: Obj) -> OperatorState:
    """An Application's state: ready when Synced and Healthy with no failed operation or error condition;
    the reason is the error condition, the failed phase, or the sync and health status."""
    status = obj.get("status") or {}
    sync, health = status.get("sync") or {}, (status.get("health") or {}).get("status", "")
    operation = status.get("operationState") or {}
    errors = [c for c in status.get("conditions") or [] if c.get("type") in ARGO_ERRORS]
    verdict: bool | None
    if errors:
        verdict, reason, message = False, str(errors[0]["type"]), str(errors[0].get("message", ""))
    elif operation.get("phase") in ARGO_FAILED_PHASES:
        verdict, reason, message = False, f"Sync{operation['phase']}", str(operation.get("message", ""))
    elif sync.get("status") == "Synced" and health == "Healthy":
        verdict, reason, message = True, "Synced", str(operation.get("message", ""))
    else:
        verdict, reason = (
            (False if health == "Degraded" else None),
            f"{sync.get('status', 'Unknown')}/{health or 'Unknown'}",
        )
        message = str(operation.get("message", ""))
    revisions = sync.get("revisions") or [sync.get("revision") or ""]
    meta = obj.get("metadata") or {}
    name, namespace = str(meta.get("name", "")), str(meta.get("namespace", ""))
    return OperatorState("Application", name, namespace, str(revisions[0]), verdict, reason, message)


# -- matching objects to cells ------------------------------------------------------------------


def repo_url_normalise(url: str) -> str:
    """`host/owner/repo` from any way of writing a Git URL: https, `ssh://git@host/…`, `git@host:…`,
    with or without `.git` and a trailing slash; case-insensitive host."""
    text = (url or "").strip().rstrip("/")
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text, flags=re.IGNORECASE)
    text = text.split("@", 1)[-1] if "@" in text.split("/", 1)[0] else text
    host, sep, path = re.split(r"([:/])", text, maxsplit=1) if re.search(r"[:/]", text) else [text, "", ""]
    if sep == ":" and re.match(r"\d+/", path):  # host:port/path
        path = path.split("/", 1)[1]
    path = path.strip("/")
    path = path[:-4] if path.endswith(".git") else path
    return f"{host.lower()}/{path}"


def path_normalise(path: str) -> str:
    """A repository-relative path without `./`, leading or trailing slashes ("" for the root)."""
    parts = [part for part in (path or "").replace("\\", "/").split("/") if part not in ("", ".")]
    return "/".join(parts)


def path_contains(directory: str, file: str) -> bool:
    """Whether `file` lies in `directory` (both repository-relative; the root contains everything)."""
    directory, file = path_normalise(directory), path_normalise(file)
    return not directory or file == directory or file.startswith(directory + "/")


def flux_sources_for(sources: Iterable[Obj], *, repo_url: str, branch: str) -> set[tuple[str, str]]:
    """(namespace, name) of the GitRepositories that fetch `branch` of `repo_url`."""
    wanted = repo_url_normalise(repo_url)
    found = set()
    for source in sources:
        spec = source.get("spec") or {}
        ref = spec.get("ref") or {}
        if repo_url_normalise(str(spec.get("url", ""))) == wanted and ref.get("branch", "master") == branch:
            meta = source.get("metadata") or {}
            found.add((str(meta.get("namespace", "")), str(meta.get("name", ""))))
    return found


def flux_kustomizations_for(
    kustomizations: Iterable[Obj], sources: Iterable[Obj], *, file: str, repo_url: str, branch: str
) -> list[Obj]:
    """The Kustomizations whose `spec.path` contains `file`, applied from a GitRepository of `repo_url`/`branch`."""
    fetching = flux_sources_for(sources, repo_url=repo_url, branch=branch)
    matches = []
    for kustomization in kustomizations:
        spec = kustomization.get("spec") or {}
        ref = spec.get("sourceRef") or {}
        namespace = ref.get("namespace") or (kustomization.get("metadata") or {}).get("namespace", "")
        from_repo = ref.get("kind", "GitRepository") == "GitRepository" and (namespace, ref.get("name")) in fetching
        if from_repo and path_contains(str(spec.get("path", "")), file):
            matches.append(kustomization)
    return matches


def flux_helm_releases_for(releases: Iterable[Obj], *, namespace: str, name: str) -> list[Obj]:
    """The HelmReleases that install Helm release `name` in `namespace` (an application's live selector).

    As helm-controller names them: `spec.releaseName`, else `<targetNamespace>-<name>` with a
    target namespace, else the object's own name; installed in `spec.targetNamespace` or its own.
    """
    return [release for release in releases if _helm_release_name(release) in ((namespace, name),)]


def helm_chart(release: Obj) -> tuple[str, str]:
    """(the chart version range the HelmRelease asks for, the chart version its newest release runs)."""
    spec = ((release.get("spec") or {}).get("chart") or {}).get("spec") or {}
    history = (release.get("status") or {}).get("history") or []
    return str(spec.get("version") or "*"), str(history[0].get("chartVersion", "")) if history else ""


def argo_applications_for(applications: Iterable[Obj], *, file: str, repo_url: str, branch: str) -> list[Obj]:
    """The Applications with a source of `repo_url` (at `branch` or HEAD) whose `path` contains `file`,
    or whose Helm `valueFiles` name it through a `$ref` source of that repository."""
    return [app for app in applications if _argo_applies(app, file, repo_url_normalise(repo_url), branch)]


def _argo_applies(app: Obj, file: str, repo: str, branch: str) -> bool:
    spec = app.get("spec") or {}
    sources = [spec["source"]] if spec.get("source") else list(spec.get("sources") or [])
    ours = [s for s in sources if repo_url_normalise(str(s.get("repoURL", ""))) == repo and _tracks(s, branch)]
    if any("path" in s and path_contains(str(s["path"]), file) for s in ours):
        return True
    refs = {str(s["ref"]) for s in ours if s.get("ref")}
    for source in sources:
        for value_file in (source.get("helm") or {}).get("valueFiles") or []:
            ref, _, rest = str(value_file).partition("/")
            if ref.startswith("$") and ref[1:] in refs and path_normalise(rest) == path_normalise(file):
                return True
    return False


def _helm_release_name(release: Obj) -> tuple[str, str]:
    meta, spec = release.get("metadata") or {}, release.get("spec") or {}
    target = str(spec.get("targetNamespace") or "")
    default = f"{target}-{meta.get('name', '')}" if target else str(meta.get("name", ""))
    return target or str(meta.get("namespace", "")), str(spec.get("releaseName") or default)


def _tracks(source: Obj, branch: str) -> bool:
    target = str(source.get("targetRevision") or "HEAD")
    return target in ("HEAD", branch, f"refs/heads/{branch}")


def _flux_revision(kind: str, status: Obj) -> str:
    if kind in ("GitRepository", "OCIRepository", "HelmChart", "Bucket"):
        return str((status.get("artifact") or {}).get("revision", ""))
    if kind == "HelmRelease":
        history = status.get("history") or []
        return str(history[0].get("chartVersion", "")) if history else str(status.get("lastAttemptedRevision", ""))
    return str(status.get("lastAppliedRevision", ""))


def _branch(ref: str) -> str:
    return ref.removeprefix("refs/heads/")


def _true(condition: Obj | None) -> bool:
    return condition is not None and condition.get("status") == "True"
