"""Flux and Argo CD, simulated for one cluster each: what makes a cluster run what Git declares.

A controller fetches the head of a Git branch (a local repository, read with git) every
`interval` seconds, or at once when a webhook receiver calls `sync_now()`. For each of its
units (a Flux Kustomization or an Argo CD Application applying one folder of the repository)
it builds the files under the unit's folder at the fetched revision, as kustomize would, and
writes the status the real controller writes:

- Flux: the `GitRepository` artifact (`main@sha1:<sha>`), then each `Kustomization`: Ready with
  `lastAppliedRevision` the new revision, or Ready=False `BuildFailed` (a file that does not
  parse, a missing resource) or `ReconciliationFailed` (an object the API server would refuse),
  `lastAttemptedRevision` the new revision and `lastAppliedRevision` the last good one.
- Argo CD: each `Application` synced automatically (`status.sync`, `operationState`), a
  `ComparisonError` when the manifests cannot be generated, a Failed operation when they cannot
  be applied, and its health from the Deployments it runs.

What a unit last applied (`read(cluster, path, sha)`: the (namespace, app) -> (image, tag) its
files declare at that revision) is what `gitops.Operator` rolls out: the cluster runs what the
operator applied, not what the branch says now.
"""

from __future__ import annotations

import logging
import posixpath
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self
from urllib.parse import unquote, urlparse

import yaml

from sandbox.kube import operator_objects as objects
from sandbox.kube.resources import lookup
from sandbox.kube.standin import KubeStandIn

log = logging.getLogger(__name__)

Declared = Mapping[tuple[str, str], tuple[str, str]]  # (namespace, app) -> (image repository, tag)
Reader = Callable[[str, str, str], Declared]  # (cluster, folder, sha) -> what the folder declares at sha
KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")
DEPLOYMENTS = lookup("deployments")
ARGO_HEALTH = ("Healthy", "Suspended", "Progressing", "Missing", "Degraded", "Unknown")  # least to most severe


class BuildError(Exception):
    """The files cannot be built into manifests; `reason` as Flux names it."""

    def __init__(self, message: str, reason: str = "BuildFailed") -> None:
        super().__init__(message)
        self.reason = reason


class ApplyError(Exception):
    """The manifests were built but the API server would refuse one (Flux: ReconciliationFailed)."""


class GitSource:
    """One branch of a local Git repository (`file://` URL), read with git as source-controller fetches it."""

    def __init__(self, url: str, *, branch: str = "main") -> None:
        self.url, self.branch = url, branch
        self.path = Path(unquote(urlparse(url).path))

    def head(self) -> str | None:
        """The branch's commit now (None when the branch does not exist)."""
        return self.resolve(f"refs/heads/{self.branch}")

    def resolve(self, revision: str) -> str | None:
        return self._git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", check=False).strip() or None

    def tree(self, sha: str) -> dict[str, str]:
        """Every file at `sha`: path -> blob."""
        entries = self._git("ls-tree", "-r", "-z", sha).split("\0")
        return {path: meta.split()[2] for meta, _, path in (e.partition("\t") for e in entries if e)}

    def read(self, blobs: Iterable[str]) -> dict[str, bytes]:
        """The contents of `blobs`, in one `cat-file --batch`."""
        wanted = list(dict.fromkeys(blobs))
        out = subprocess.run(
            ["git", f"--git-dir={self.path}", "cat-file", "--batch"],
            input="".join(f"{blob}\n" for blob in wanted).encode(), capture_output=True, check=True,
        ).stdout  # fmt: skip
        contents, at = {}, 0
        for blob in wanted:
            header_end = out.index(b"\n", at)
            size = int(out[at:header_end].split()[2])
            contents[blob], at = out[header_end + 1 : header_end + 1 + size], header_end + 2 + size
        return contents

    def changes(self, sha: str, *paths: str) -> list[str]:
        """The commits up to `sha` that changed `paths`, newest first."""
        return self._git("rev-list", sha, "--", *(p or "." for p in paths)).split()

    def _git(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run(["git", f"--git-dir={self.path}", *args], capture_output=True, check=False)
        if check and proc.returncode:
            raise RuntimeError(f"git {args[0]}: {proc.stderr.decode().strip()}")
        return proc.stdout.decode()


def build(source: GitSource, sha: str, folder: str) -> list[tuple[str, Any]]:
    """`kustomize build <folder>` at `sha`, as far as a simulator needs it: (file, document) for every YAML
    document under the folder. A file that does not parse, or a local resource a kustomization lists
    that does not exist, fails the build with kustomize's kind of message, naming the file and line."""
    tree = source.tree(sha)
    root = _clean(folder)
    if not any(_inside(root, path) for path in tree):
        raise BuildError(
            f"kustomization path not found: stat {root or '.'}: no such file or directory", "ArtifactFailed"
        )
    files = sorted(p for p in tree if _inside(root, p) and p.endswith((".yaml", ".yml", "/Kustomization")))
    contents = source.read(tree[path] for path in files)
    documents = []
    for path in files:
        try:
            loaded = [doc for doc in yaml.safe_load_all(contents[tree[path]]) if doc is not None]
        except yaml.MarkedYAMLError as error:
            line = error.problem_mark.line + 1 if error.problem_mark else 0
            raise BuildError(f"kustomize build failed: accumulating resources from '{path}': "
                             f"yaml: line {line}: {error.problem}") from None  # fmt: skip
        documents += [(path, doc) for doc in loaded]
    _check_resources(documents, tree)
    return documents


def _check_resources(documents: list[tuple[str, Any]], tree: Mapping[str, str]) -> None:
    for path, doc in documents:
        if posixpath.basename(path) not in KUSTOMIZATIONS or not isinstance(doc, dict):
            continue
        for entry in [*(doc.get("resources") or []), *(doc.get("bases") or [])]:
            target = posixpath.normpath(posixpath.join(posixpath.dirname(path), str(entry)))
            if "://" not in str(entry) and not any(_inside(target, p) for p in tree):
                raise BuildError(f"kustomize build failed: accumulating resources: accumulation err='accumulating "
                                 f"resources from '{entry}': open {target}: no such file or directory' "
                                 f"(listed in {path})")  # fmt: skip


def check_objects(documents: Iterable[tuple[str, Any]]) -> None:
    """What the API server's dry run refuses before anything is applied: an object without a name."""
    for path, doc in documents:
        if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
            continue  # values files, kustomize's own configuration
        if doc["apiVersion"].startswith("kustomize.config.k8s.io/"):
            continue
        if not (doc.get("metadata") or {}).get("name"):
            raise ApplyError(f"{doc['kind']} dry-run failed ({path}): {doc['kind']} \"\" is invalid: "
                             "metadata.name: Required value: name or generateName is required")  # fmt: skip


@dataclass(frozen=True)
class Unit:
    """A Flux Kustomization or an Argo CD Application: its name, the folder it applies, where it deploys."""

    name: str
    folder: str
    namespace: str = "default"


@dataclass
class Applied:
    """What a unit applied last: the revision (a sha) and what its folder declared there."""

    sha: str
    declared: Declared = field(default_factory=dict)


class Controller:
    """One cluster's GitOps controller: polls `source` every `interval` seconds (`tick`), or at once
    (`sync_now`, what a webhook receiver triggers), and applies each unit at the fetched revision."""

    kind: ClassVar[str] = ""
    default_namespace: ClassVar[str] = ""

    def __init__(
        self, kube: KubeStandIn, cluster: str, source: GitSource, units: Iterable[Unit], read: Reader,
        *, interval: float = 60.0, namespace: str | None = None,
    ) -> None:  # fmt: skip
        self.kube, self.cluster, self.source, self.read = kube, cluster, source, read
        self.namespace = namespace or self.default_namespace  # where its objects live
        self.units = list(units)
        self.interval = interval
        self.fetched: str | None = None  # the revision fetched last
        self.applied: dict[str, Applied] = {}  # by unit name: its last good revision
        self.attempted: dict[str, str] = {}  # by unit name: the revision it tried last
        self.polls = self.hooks = 0  # fetches on the interval, and asked for by a webhook
        self.last_poll = float("-inf")
        self._lock = threading.RLock()

    def start(self, *, at: str | None = None) -> Self:
        """Install the operator, create its objects and apply `at` (default the branch head) now, as if
        it had been running all along: a unit that fails there applied the revision before it broke."""
        with self._lock:
            self.kube.install(self.cluster, self.kind)
            sha = at or self.source.head()
            if sha is not None:
                self._fetch(sha)
                for unit in self.units:
                    self._bootstrap(unit, sha)
            self.last_poll = time.monotonic()
        return self

    def tick(self, now: float) -> None:
        """Fetch and apply when `interval` seconds passed since the last fetch."""
        with self._lock:
            if now - self.last_poll >= self.interval:
                self.polls += 1
                self.reconcile()

    def sync_now(self) -> None:
        """Fetch and apply at once: what Flux's Receiver or Argo CD's webhook makes the controller do."""
        with self._lock:
            self.hooks += 1
            self.reconcile()

    def reconcile(self) -> None:
        with self._lock:
            self.last_poll = time.monotonic()
            try:
                sha = self.source.head()
            except (OSError, RuntimeError) as error:
                log.warning("%s: cannot read %s: %s", self.cluster, self.source.url, error)
                return
            if sha is not None:
                self._fetch(sha)
                for unit in self.units:
                    self._apply(unit, sha)

    def declared(self) -> dict[tuple[str, str], tuple[str, str]]:
        """Everything the units applied: what the Deployments of the cluster should run."""
        with self._lock:
            return {key: value for applied in self.applied.values() for key, value in applied.declared.items()}

    def observe(self) -> None:
        """Look at what runs (after the Deployment controller moved): nothing to do for Flux."""

    # -- applying one unit -------------------------------------------------------------------

    def _bootstrap(self, unit: Unit, sha: str) -> None:
        self._apply(unit, sha)
        if unit.name in self.applied:
            return
        for change in self.source.changes(sha, unit.folder):
            before = self.source.resolve(f"{change}^")
            if before is None:
                return
            self._apply(unit, before)
            if unit.name in self.applied:
                self._apply(unit, sha)
                return

    def _apply(self, unit: Unit, sha: str) -> None:
        if self.attempted.get(unit.name) == sha:
            return  # built at this revision already: the same files give the same answer
        self.attempted[unit.name] = sha
        try:
            documents = build(self.source, sha, unit.folder)
            check_objects(documents)
            declared = dict(self.read(self.cluster, unit.folder, sha))
        except BuildError as error:
            self._failed(unit, sha, error.reason, str(error))
        except ApplyError as error:
            self._failed(unit, sha, "ReconciliationFailed", str(error))
        except Exception as error:  # reading the files failed this time: report it, retry at the next poll
            del self.attempted[unit.name]
            self._failed(unit, sha, "ReconciliationFailed", str(error))
        else:
            before = self.applied.get(unit.name)
            self.applied[unit.name] = Applied(sha, declared)
            self._succeeded(unit, sha, changed=before is None or dict(before.declared) != declared)

    def _fetch(self, sha: str) -> None:
        self.fetched = sha

    def _succeeded(self, unit: Unit, sha: str, *, changed: bool) -> None:
        raise NotImplementedError

    def _failed(self, unit: Unit, sha: str, reason: str, message: str) -> None:
        raise NotImplementedError


class FluxController(Controller):
    """Flux: a `GitRepository` named `source_name` and one `Kustomization` per unit, in `namespace`."""

    kind = "flux"
    default_namespace = objects.FLUX_NAMESPACE
    source_name = "flux-system"  # the GitRepository, as `flux bootstrap` names it

    def _fetch(self, sha: str) -> None:
        if sha != self.fetched:
            source, every = self.source, duration(self.interval)
            repository = objects.git_repository(self.source_name, source.url, branch=source.branch, sha=sha,
                                                namespace=self.namespace, interval=every)  # fmt: skip
            self.kube.apply(self.cluster, repository)
        super()._fetch(sha)

    def _succeeded(self, unit: Unit, sha: str, *, changed: bool) -> None:
        self.kube.apply(self.cluster, self._kustomization(unit, sha))

    def _failed(self, unit: Unit, sha: str, reason: str, message: str) -> None:
        good = self.applied.get(unit.name)
        applied = self.revision(good.sha) if good else None
        self.kube.apply(self.cluster, self._kustomization(unit, sha, applied=applied, reason=reason, message=message))

    def revision(self, sha: str) -> str:
        return objects.flux_revision(self.source.branch, sha)

    def _kustomization(self, unit: Unit, sha: str, **failure: Any) -> dict[str, Any]:
        path = f"./{_clean(unit.folder)}" if _clean(unit.folder) else "./"
        return objects.kustomization(unit.name, path=path, source=self.source_name, revision=self.revision(sha),
                                     namespace=self.namespace, ready=not failure, **failure)  # fmt: skip


class ArgoController(Controller):
    """Argo CD: one automated `Application` per unit (source the repository at HEAD, path the unit's folder)."""

    kind = "argocd"
    default_namespace = objects.ARGOCD_NAMESPACE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._status: dict[str, dict[str, Any]] = {}  # by unit: what its Application says, written last

    def _succeeded(self, unit: Unit, sha: str, *, changed: bool) -> None:
        """Synced at `sha`; a sync operation runs when the manifests changed (or the last one failed)."""
        synced = self._status.get(unit.name, {}).get("phase") == "Succeeded"
        operation = {"phase": "Succeeded", "message": "successfully synced (all tasks run)", "operated": sha}
        self._write(unit, sync="Synced", revision=sha, conditions=(), **(operation if changed or not synced else {}))

    def _failed(self, unit: Unit, sha: str, reason: str, message: str) -> None:
        if reason == "ReconciliationFailed":  # the sync operation ran and the API server refused an object
            failure = f"one or more objects failed to apply, reason: {message}"
            self._write(unit, sync="OutOfSync", revision=sha, phase="Failed", message=failure, operated=sha,
                        conditions=())  # fmt: skip
            return
        comparison = ("ComparisonError", f"Failed to load target state: failed to generate manifest for source 1 "
                      f"of 1: rpc error: code = Unknown desc = `kustomize build {_clean(unit.folder)}` failed exit "
                      f"status 1: Error: {message}")  # fmt: skip
        self._write(unit, sync="Unknown", revision=sha, conditions=(comparison,))

    def observe(self) -> None:
        """Each Application's health: the worst of its Deployments' (Progressing during a rollout)."""
        with self._lock:
            for unit in self.units:
                applied = self.applied.get(unit.name)
                if applied is not None:
                    self._write(unit, health=self._health(applied.declared))

    def _health(self, declared: Declared) -> str:
        get = self.kube.store.get
        states = [
            deployment_health(get(self.cluster, DEPLOYMENTS, ns, app), image) for (ns, app), image in declared.items()
        ]
        return max(states, key=ARGO_HEALTH.index, default="Healthy")

    def _write(self, unit: Unit, **changes: Any) -> None:
        before = self._status.get(unit.name, {"health": "Missing", "phase": "Running", "message": "", "sync": ""})
        status = {**before, **changes}
        if status == before and unit.name in self._status:
            return
        self._status[unit.name] = status
        self.kube.apply(self.cluster, self._application(unit, status))

    def _application(self, unit: Unit, status: Mapping[str, Any]) -> dict[str, Any]:
        operated = status.get("operated") or status["revision"]
        app = objects.application(unit.name, repo_url=self.source.url, path=_clean(unit.folder) or ".",
                                  revision=operated, destination=unit.namespace, target="HEAD",
                                  sync=status["sync"], health=status["health"], phase=status["phase"],
                                  message=status["message"], conditions=status.get("conditions", ()),
                                  namespace=self.namespace)  # fmt: skip
        app["status"]["sync"]["revision"] = status["revision"]  # compared at the head, maybe synced earlier
        return app


def deployment_health(deployment: Mapping[str, Any] | None, image: tuple[str, str]) -> str:
    """Argo CD's health of a Deployment: Missing, Degraded (deadline exceeded), Progressing or Healthy."""
    if deployment is None:
        return "Missing"
    status = deployment.get("status") or {}
    progressing: Mapping[str, Any] = next((c for c in status.get("conditions") or [] if c["type"] == "Progressing"), {})
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return "Degraded"
    wanted = deployment["spec"].get("replicas", 1)
    running = [c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]]
    done = status.get("updatedReplicas", 0) == status.get("availableReplicas", 0) == wanted
    done = done and status.get("replicas", 0) == wanted and progressing.get("reason") == "NewReplicaSetAvailable"
    return "Healthy" if done and ":".join(image) in running else "Progressing"


def duration(seconds: float) -> str:
    """A Go duration as Flux specs write them: `1m`, `30s`, `1m30s`, `500ms`."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    minutes, rest = divmod(round(seconds), 60)
    return (f"{minutes}m" if minutes else "") + (f"{rest}s" if rest or not minutes else "")


def _clean(path: str) -> str:
    return "/".join(part for part in path.replace("\\", "/").split("/") if part not in ("", "."))


def _inside(folder: str, path: str) -> bool:
    folder = _clean(folder)
    return not folder or path == folder or path.startswith(folder + "/")
