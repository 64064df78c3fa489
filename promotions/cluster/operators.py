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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Obj = Mapping[str, Any]
SHA = re.compile(r"[0-9a-f]{7,64}")
ARGO_ERRORS = ("ComparisonError", "SyncError", "InvalidSpecError", "UnknownError")
ARGO_FAILED_PHASES = ("Failed", "Error")
# Not ready because a revision failed, as opposed to waiting (DependencyNotReady, ArtifactFailed while
# the source is down, …): only these fail a promotion at once.
FAILURE_REASONS = frozenset({
    "BuildFailed", "ReconciliationFailed", "HealthCheckFailed", "PruneFailed",  # Kustomization
    "InstallFailed", "UpgradeFailed", "RetriesExceeded", "TestFailed", "RollbackFailed", "UninstallFailed",
    "ChartLoadFailed", "ArtifactFailed", "InitFailed",  # HelmRelease (ArtifactFailed: the chart would not load)
    *ARGO_ERRORS, "SyncFailed", "SyncError",  # Application
})  # fmt: skip


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
    return [k for k in kustomizations if _fetched_by(k, fetching) and path_contains(_spec_path(k), file)]


def _fetched_by(kustomization: Obj, fetching: set[tuple[str, str]]) -> bool:
    """Whether a Kustomization applies the artifact of one of the `fetching` GitRepositories."""
    ref = (kustomization.get("spec") or {}).get("sourceRef") or {}
    namespace = ref.get("namespace") or (kustomization.get("metadata") or {}).get("namespace", "")
    return ref.get("kind", "GitRepository") == "GitRepository" and (namespace, ref.get("name")) in fetching


def _spec_path(kustomization: Obj) -> str:
    return path_normalise(str((kustomization.get("spec") or {}).get("path", "")))


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
    paths, value_files = _argo_paths(app, repo, branch)
    return any(path_contains(path, file) for path in paths) or path_normalise(file) in value_files


def _argo_paths(app: Obj, repo: str, branch: str) -> tuple[list[str], set[str]]:
    """An Application's source paths in `repo` (normalised) at `branch`, and the Helm value files it
    takes from that repository through a `$ref` source."""
    spec = app.get("spec") or {}
    sources = [spec["source"]] if spec.get("source") else list(spec.get("sources") or [])
    ours = [s for s in sources if repo_url_normalise(str(s.get("repoURL", ""))) == repo and _tracks(s, branch)]
    refs = {str(s["ref"]) for s in ours if s.get("ref")}
    value_files = set()
    for source in sources:
        for value_file in (source.get("helm") or {}).get("valueFiles") or []:
            ref, _, rest = str(value_file).partition("/")
            if ref.startswith("$") and ref[1:] in refs:
                value_files.add(path_normalise(rest))
    return [path_normalise(str(s["path"])) for s in ours if "path" in s], value_files


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


# -- one stage's operator, indexed; a cell's verdict ---------------------------------------------

FLUX_KINDS = ("GitRepository", "Kustomization", "HelmRelease")
ARGO_KINDS = ("Application",)
APPLIERS = {"flux": "Kustomization", "argocd": "Application"}
TITLES = {"flux": "Flux", "argocd": "Argo CD"}
# A cell's verdict: the operator applied a revision containing the cell's change, has not yet, failed
# to apply it, or cannot be told (no object applies the file, an unknown revision, …).
APPLIED, PENDING, FAILED, UNKNOWN = "applied", "pending", "failed", "unknown"
Contains = Callable[[str, str], "bool | None"]  # (change, revision) -> in it, not, or cannot tell


def applied_revisions(kind: str, obj: Obj) -> tuple[str, str]:
    """(the commit the object last applied, the commit it last attempted), "" where unknown.

    Flux: `lastAppliedRevision` / `lastAttemptedRevision`. Argo CD: the last sync operation's
    revision (or the compared revision while Synced) / the compared revision.
    """
    status = obj.get("status") or {}
    if kind == "Application":
        sync = status.get("sync") or {}
        compared = revision_parse(str((sync.get("revisions") or [sync.get("revision") or ""])[0])).commit
        result = (status.get("operationState") or {}).get("syncResult") or {}
        synced = revision_parse(str((result.get("revisions") or [result.get("revision") or ""])[0])).commit
        operation_ok = (status.get("operationState") or {}).get("phase") in (None, "Succeeded")
        last_sync = synced if operation_ok else ""
        return (compared if sync.get("status") == "Synced" else "") or last_sync, compared
    applied = revision_parse(str(status.get("lastAppliedRevision", ""))).commit
    attempted = revision_parse(str(status.get("lastAttemptedRevision", ""))).commit
    return applied, attempted or applied


class OperatorIndex:
    """One stage's Flux or Argo CD objects (as `client.read_operators` lists them), indexed once so
    that finding what applies a cell costs the same with 10 or 10,000 applications."""

    def __init__(self, operator: str, objects: Mapping[str, Sequence[Obj]], *, namespace: str) -> None:
        self.operator, self.title, self.namespace = operator, TITLES[operator], namespace
        self.objects = objects
        self.by_name: dict[tuple[str, str, str], Obj] = {}
        for kind, items in objects.items():
            for item in items:
                meta = item.get("metadata") or {}
                self.by_name[kind, str(meta.get("namespace", "")), str(meta.get("name", ""))] = item
        self.releases: dict[tuple[str, str], list[Obj]] = {}
        for release in objects.get("HelmRelease", []):
            self.releases.setdefault(_helm_release_name(release), []).append(release)
        self._by_repo: dict[tuple[str, str], tuple[dict[str, list[Obj]], dict[str, list[Obj]]]] = {}

    def appliers(self, file: str, *, repo_url: str, branch: str) -> list[Obj]:
        """The objects applying `file` of `repo_url`/`branch`: those whose path is the file's deepest
        directory that any object applies (a Kustomization for ./apps wins over one for the root);
        several objects at the same depth are ambiguous. An Application naming it in `valueFiles` too."""
        by_path, by_file = self._paths(repo_url, branch)
        file = path_normalise(file)
        exact = by_file.get(file, [])
        parts = file.split("/")
        for depth in range(len(parts), -1, -1):
            found = by_path.get("/".join(parts[:depth]))
            if found:
                return _unique(found + exact)
        return _unique(exact)

    def sources_problem(self, *, repo_url: str, branch: str) -> str:
        """Why Flux cannot fetch `repo_url`/`branch` (a GitRepository not Ready: the Git server is down,
        credentials expired…), '' when it can or when nothing fetches it."""
        for source in self.objects.get("GitRepository", []):
            meta = source.get("metadata") or {}
            if (str(meta.get("namespace", "")), str(meta.get("name", ""))) in flux_sources_for(
                [source], repo_url=repo_url, branch=branch
            ):
                state = flux_state("GitRepository", source)
                if state.ready is False:
                    return f"GitRepository {state.namespace}/{state.name}: {state.reason}: {state.message}"
        return ""

    def _paths(self, repo_url: str, branch: str) -> tuple[dict[str, list[Obj]], dict[str, list[Obj]]]:
        key = (repo_normalised := repo_url_normalise(repo_url), branch)
        if key not in self._by_repo:
            by_path: dict[str, list[Obj]] = {}
            by_file: dict[str, list[Obj]] = {}
            if self.operator == "flux":
                fetching = flux_sources_for(self.objects.get("GitRepository", []), repo_url=repo_url, branch=branch)
                for item in self.objects.get("Kustomization", []):
                    if _fetched_by(item, fetching):
                        by_path.setdefault(_spec_path(item), []).append(item)
            else:
                for app in self.objects.get("Application", []):
                    paths, value_files = _argo_paths(app, repo_normalised, branch)
                    for path in paths:
                        by_path.setdefault(path, []).append(app)
                    for value_file in value_files:
                        by_file.setdefault(value_file, []).append(app)
            self._by_repo[key] = (by_path, by_file)
        return self._by_repo[key]


@dataclass(frozen=True)
class CellQuery:
    """What a cell's verdict needs: its file and the commit that last changed it, the repository and
    branch it is read from, the catalogue's naming of the operator's object, and the Helm release
    (namespace, name) it may be installed as."""

    file: str
    change: str
    repo_url: str
    branch: str
    named: tuple[str, str, str] | None = None  # (kind, namespace, name) from the catalogue
    release: tuple[str, str] | None = None  # (namespace, name) a HelmRelease may install


def operator_blank(title: str, observed_at: str, *, change: str = "") -> dict[str, Any]:
    """A cell's `live.operator` before anything is known about its object (the keys every one has)."""
    return {"operator": title, "kind": "", "name": "", "namespace": "", "revision": "", "attempted": "",
            "ready": None, "reason": "", "message": "", "observed_at": observed_at, "change": change}  # fmt: skip


def cell_operator(index: OperatorIndex, query: CellQuery, *, contains: Contains, observed_at: str) -> dict[str, Any]:
    """A cell's `live.operator`: which object applies it, the commit it applied, and the verdict:
    applied (that commit contains the cell's change), pending, failed (with the operator's message)
    or unknown (with why)."""
    applier_kind = APPLIERS[index.operator]
    blank = operator_blank(index.title, observed_at, change=query.change)
    helm = _helm(index, query)
    named = query.named if query.named and query.named[0] != "HelmRelease" else None
    if named:
        found = index.by_name.get(named)
        if found is None:
            return blank | _verdict(UNKNOWN, f"{named[0]} {named[1]}/{named[2]} (named in the catalogue) does not "
                                             f"exist in the cluster")  # fmt: skip
        appliers = [found]
    else:
        appliers = index.appliers(query.file, repo_url=query.repo_url, branch=query.branch)
    if not appliers:
        where = f"{query.repo_url} {query.branch}"
        return blank | helm | _verdict(UNKNOWN, f"no {index.title} {applier_kind} applies {query.file} from {where}")
    if len(appliers) > 1:
        names = " and ".join(_ref(o) for o in appliers)
        return (
            blank
            | helm
            | _verdict(
                UNKNOWN, f"ambiguous: {names} all apply {query.file}; name one in the application's live.operator"
            )
        )
    obj = appliers[0]
    kind = named[0] if named else applier_kind
    state = flux_state(kind, obj) if index.operator == "flux" else argo_state(obj)
    applied, attempted = applied_revisions(kind, obj)
    found_fields = {"kind": kind, "name": state.name, "namespace": state.namespace, "revision": applied,
                    "attempted": attempted, "ready": state.ready, "reason": state.reason,
                    "message": _line(state.message)}  # fmt: skip
    return blank | found_fields | helm | _judge(index.title, query, applied, attempted, state, helm, contains)


def _judge(title: str, query: CellQuery, applied: str, attempted: str, state: OperatorState,
           helm: dict[str, Any], contains: Contains) -> dict[str, str]:  # fmt: skip
    if not query.change:
        return _verdict(UNKNOWN, "the commit that changed this cell is not known yet")
    inside = contains(query.change, applied) if applied else False
    if inside is None:
        return _verdict(UNKNOWN, f"{title} has {applied[:7]}, a commit the portal has not read (yet)")
    if inside:
        release = helm.get("helm") or {}
        if failing(release):
            return _verdict(FAILED, f"failed: HelmRelease {release['namespace']}/{release['name']}: "
                                    f"{release['reason']}: {release['message']}")  # fmt: skip
        return _verdict(APPLIED, "applied")
    tried = contains(query.change, attempted) if attempted else False
    if is_failure(state) and (tried or attempted == applied or not attempted):
        return _verdict(FAILED, f"failed: {_cause(state)}")
    has = f"{title} has {applied[:7]}" if applied else f"{title} has applied nothing yet"
    waiting = f" ({_cause(state)})" if state.ready is False else ""
    return _verdict(PENDING, f"not yet applied: {has}, the change is {query.change[:7]}{waiting}")


def is_failure(state: OperatorState) -> bool:
    """Whether the object failed on a revision (a build, an upgrade, a sync), not merely waits."""
    return failing({"ready": state.ready, "reason": state.reason})


def failing(fields: Mapping[str, Any]) -> bool:
    """`is_failure` of a stored state (a cell's `live.operator`, or its `helm`)."""
    return fields.get("ready") is False and fields.get("reason") in FAILURE_REASONS


def _cause(state: OperatorState) -> str:
    return f"{state.reason}: {_line(state.message)}" if state.message else state.reason


def _helm(index: OperatorIndex, query: CellQuery) -> dict[str, Any]:
    """The HelmRelease installing the cell's application, if any: the chart range it asks for and the
    version it resolved to, and its readiness."""
    if index.operator != "flux":
        return {}
    release = None
    if query.named and query.named[0] == "HelmRelease":
        release = index.by_name.get(query.named)
    elif query.release is not None:
        found = index.releases.get(query.release, [])
        release = found[0] if len(found) == 1 else None
    if release is None:
        return {}
    state = flux_state("HelmRelease", release)
    chart, resolved = helm_chart(release)
    return {"helm": {"name": state.name, "namespace": state.namespace, "chart": chart, "resolved": resolved,
                     "ready": state.ready, "reason": state.reason, "message": _line(state.message)}}  # fmt: skip


def _verdict(verdict: str, summary: str) -> dict[str, str]:
    return {"verdict": verdict, "summary": summary}


def _ref(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def _unique(objs: list[Obj]) -> list[Obj]:
    seen, out = set(), []
    for obj in objs:
        if id(obj) not in seen:
            seen.add(id(obj))
            out.append(obj)
    return out


def _line(text: str, limit: int = 1000) -> str:
    """An operator's message on one line (they carry kustomize's multi-line errors), bounded."""
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
