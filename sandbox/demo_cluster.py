"""The demo's clusters: a Kubernetes API stand-in with one virtual cluster per stage, each run by
the GitOps operator its catalogue entry names (`operator:`), simulated (`sandbox.kube.flux`): Flux
or Argo CD polls the demo repository every `interval` seconds and applies each folder of the
stage's files at the revision it fetched; the Deployments then roll out what it applied, replica
by replica. A stage whose operator has a `receiver` gets one (`sandbox.receivers`), at the URL and
with the secret its environment variables give: a call makes its operator sync at once.

A stage without a receiver starts one poll behind: its operator fetched just before the stage's
newest change landed, so the dashboard shows a change not yet applied until the next poll. Each
Deployment runs as many replicas as its stage's files declare, and the demo's `CRASH_LOOPING` cells
start with all pods but one crash-looping: Degraded, 1 of N ready.
"""

from __future__ import annotations

import logging
import os
import posixpath
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from promotions.catalogue.connect import git_repository
from promotions.catalogue.lookups import Catalog
from promotions.catalogue.schema import RepositoryConfig, StageConfig, render
from promotions.cluster.operators import path_contains
from promotions.matrix.refresh import matrix_read_git
from promotions.matrix.snapshot import Cell, RepositorySnapshot, repository_snapshot_read
from sandbox.demo import CRASH_LOOPING
from sandbox.kube import KubeStandIn, Operator, rollout
from sandbox.kube.flux import ArgoController, Controller, FluxController, GitSource, Unit
from sandbox.receivers import ReceiverStandIn

log = logging.getLogger(__name__)
TOKEN = "demo-portal-token"
INTERVAL = 60.0  # how often each operator polls the repository (a GitRepository's `interval: 1m`)
CONTROLLERS: dict[str, type[Controller]] = {"flux": FluxController, "argocd": ArgoController}


def desired_from_git(catalog: Catalog, data_dir: Path):  # type: ignore[no-untyped-def]
    """A callable giving, for one cluster (named like its stage), every (namespace, app) ->
    (image repository, tag) the repository declares now."""

    def desired(cluster: str) -> dict[tuple[str, str], tuple[str, str]]:
        stage = catalog.stage(cluster)
        if stage is None or stage.cluster is None:
            return {}
        wanted = {}
        for read in matrix_read_git(catalog=catalog, data_dir=data_dir):
            for cell in read.snapshot.cells if read.snapshot else []:
                if cell.stage == cluster and cell.version:
                    namespace = render(stage.cluster.namespace, app=cell.application, stage=cluster)
                    wanted[namespace, cell.application] = (f"ghcr.io/acme/{cell.application}", cell.version)
        return wanted

    return desired


class StageFiles:
    """The stages' files in the demo repository at any revision, read as the portal reads the matrix (so
    every layout works): what the files under a folder declare, for the simulated operators to apply."""

    def __init__(self, catalog: Catalog, repository: RepositoryConfig, data_dir: Path) -> None:
        self.catalog, self.data_dir = catalog, data_dir
        self.repo = git_repository(repository, data_dir=data_dir)
        self._snapshots: dict[str, RepositorySnapshot] = {}
        self._counts: dict[tuple[str, str, str], dict[tuple[str, str], int]] = {}
        self._lock = threading.RLock()

    def snapshot(self, sha: str) -> RepositorySnapshot:
        with self._lock:
            if sha not in self._snapshots:
                if not self.repo.has_commit(sha):
                    self.repo.sync()
                self._snapshots[sha] = repository_snapshot_read(catalog=self.catalog, repo=self.repo, commit=sha,
                                                                cache_dir=self.data_dir / "cache")  # fmt: skip
                while len(self._snapshots) > 32:
                    self._snapshots.pop(next(iter(self._snapshots)))
            return self._snapshots[sha]

    def declared(self, cluster: str, folder: str, sha: str) -> dict[tuple[str, str], tuple[str, str]]:
        """(namespace, app) -> (image, version) that the stage's files under `folder` declare at `sha`."""
        return {(namespace, c.application): (f"ghcr.io/acme/{c.application}", str(c.version))
                for namespace, c in self._cells(cluster, folder, sha)}  # fmt: skip

    def replicas(self, cluster: str, folder: str, sha: str) -> dict[tuple[str, str], int]:
        """(namespace, app) -> the replica count the stage's files under `folder` give at `sha`."""
        with self._lock:
            key = (cluster, folder, sha)
            if key not in self._counts:
                self._counts[key] = self._read_replicas(self._cells(cluster, folder, sha), sha)
                while len(self._counts) > 256:
                    self._counts.pop(next(iter(self._counts)))
            return self._counts[key]

    def _read_replicas(self, cells: list[tuple[str, Cell]], sha: str) -> dict[tuple[str, str], int]:
        entries = self.repo.entries(sha, [str(c.path) for _, c in cells]) if cells else {}
        blobs = self.repo.read_blobs(blob for _mode, blob in entries.values())
        counts = {}
        for namespace, cell in cells:
            entry = entries.get(str(cell.path))
            count = replicas_declared(blobs[entry[1]], cell.application) if entry else None
            if count is not None:
                counts[namespace, cell.application] = count
        return counts

    def _cells(self, cluster: str, folder: str, sha: str) -> list[tuple[str, Cell]]:
        """(namespace, cell) for each of the stage's cells with a version whose file is under `folder`."""
        stage = self.catalog.stage(cluster)
        if stage is None or stage.cluster is None:
            return []
        return [(render(stage.cluster.namespace, app=c.application, stage=cluster), c)
                for c in self.snapshot(sha).cells
                if c.stage == cluster and c.version and c.path and path_contains(folder, c.path)]  # fmt: skip


def replicas_declared(text: bytes, app: str) -> int | None:
    """The replica count a stage file gives `app`, in the demo's layouts: its entry in a kustomization's
    `replicas`, its Deployment's `spec.replicas`, or Helm values' `replicaCount` (a HelmRelease's
    `spec.values`, or a values file). None when the file gives none, or does not parse."""
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict)]
    except yaml.YAMLError:
        return None
    for doc in documents:
        kind, spec = doc.get("kind"), doc.get("spec") or {}
        if kind == "Kustomization":
            found = next((e.get("count") for e in doc.get("replicas") or [] if e.get("name") == app), None)
        elif kind == "Deployment":
            found = spec.get("replicas") if (doc.get("metadata") or {}).get("name") == app else None
        else:
            found = (spec.get("values") or {} if kind == "HelmRelease" else doc).get("replicaCount")
        if isinstance(found, int):
            return found
    return None


def controller_replicas(controller: Controller, files: StageFiles) -> dict[tuple[str, str], int]:
    """The replica counts in what each of the controller's units applied last."""
    folders = {unit.name: unit.folder for unit in controller.units}
    counts: dict[tuple[str, str], int] = {}
    for name, applied in list(controller.applied.items()):
        counts.update(files.replicas(controller.cluster, folders[name], applied.sha))
    return counts


def crash_loop(kube: KubeStandIn, catalog: Catalog, cells: Iterable[tuple[str, str]]) -> None:
    """All pods but one of each (stage, application) start crash-looping: Degraded, 1 of N ready."""
    for stage_name, app in cells:
        stage = catalog.stage(stage_name)
        namespace = render(stage.cluster.namespace, app=app, stage=stage_name) if stage and stage.cluster else None
        deployment = kube.get(stage_name, "Deployment", namespace, app) if namespace else None
        if deployment:
            rollout.crash(kube.store, stage_name, str(namespace), app, deployment["spec"]["replicas"] - 1)


def stage_units(catalog: Catalog, stage: StageConfig, snapshot: RepositorySnapshot) -> list[Unit]:
    """One Kustomization or Application per folder holding the stage's files, named after its
    application (or after the folder when it holds several), deploying to its namespace."""
    folders: dict[str, list[str]] = {}
    for cell in snapshot.cells:
        if cell.stage == stage.name and cell.path:
            folders.setdefault(posixpath.dirname(cell.path), []).append(cell.application)
    assert stage.cluster is not None
    units = []
    for folder, apps in sorted(folders.items()):
        name = apps[0] if len(apps) == 1 else folder.replace("/", "-")
        namespace = render(stage.cluster.namespace, app=apps[0], stage=stage.name) if len(apps) == 1 else "default"
        units.append(Unit(name, folder, namespace))
    return units


def one_poll_behind(source: GitSource, units: list[Unit]) -> str | None:
    """The revision just before the newest change to the units' folders (None: the head)."""
    head = source.head()
    changes = source.changes(head, *(unit.folder for unit in units)) if head else []
    return source.resolve(f"{changes[0]}^") if changes else None


@dataclass
class DemoClusters:
    """What `start_demo_clusters` runs: the stand-in, the operator (with its controllers) and the receivers."""

    kube: KubeStandIn
    operator: Operator
    receivers: dict[str, ReceiverStandIn] = field(default_factory=dict)  # by stage

    def describe(self) -> list[str]:
        """One line per stage: its operator, how often it polls, where its receiver listens."""
        lines = []
        for cluster, controller in self.operator.controllers.items():
            receiver = self.receivers.get(cluster)
            hook = "no receiver"
            if receiver is not None:
                hook = f"receiver on {receiver.url}" + ("/hook/…" if controller.kind == "flux" else "/api/webhook")
            lines.append(f"{cluster}: {controller.kind}, polling every {controller.interval:g}s, {hook}")
        return lines

    def stop(self) -> None:
        for receiver in self.receivers.values():
            receiver.stop()
        self.operator.stop()
        self.kube.stop()


def start_demo_clusters(
    *, catalog: Catalog, data_dir: Path, kubeconfig: Path, port: int, interval: float = INTERVAL,
    step: float = 1.5, poll: float = 1.0, environ: Mapping[str, str] | None = None,
    crash_looping: Iterable[tuple[str, str]] = CRASH_LOOPING,
) -> DemoClusters:  # fmt: skip
    """Serve the stages' clusters and run their operators in the background; `environ` (default the
    process's) gives the receivers' URLs and secrets (a free port when a URL is not set). The
    `crash_looping` (stage, application) cells start Degraded."""
    kube = KubeStandIn(token=TOKEN, port=port).start()
    stages = [stage for stage in catalog.stages if stage.cluster is not None]
    for stage in stages:
        kube.add_cluster(stage.name)
    kube.write_kubeconfig(kubeconfig, clusters=[stage.name for stage in stages])
    files = StageFiles(catalog, catalog.repositories[0], data_dir)  # the demo has one; each operator follows it
    controllers = _controllers(kube, catalog, stages, files, interval)
    by_cluster = {controller.cluster: controller for controller in controllers}
    fallback = desired_from_git(catalog, data_dir)  # stages without an operator: Git's head, a moment later

    def desired(cluster: str) -> Mapping[tuple[str, str], tuple[str, str]]:
        controller = by_cluster.get(cluster)
        return controller.declared() if controller is not None else fallback(cluster)

    def replicas(cluster: str) -> Mapping[tuple[str, str], int]:
        controller = by_cluster.get(cluster)
        return controller_replicas(controller, files) if controller is not None else {}

    operator = Operator(kube, desired, controllers=controllers, delay=0.0 if controllers else 3.0, step=step,
                        scale=replicas)  # fmt: skip
    running = DemoClusters(kube, operator)
    running.receivers = _receivers(stages, operator, os.environ if environ is None else environ)
    operator.sync_now()  # what the clusters ran before: rolled out already
    crash_loop(kube, catalog, crash_looping)
    operator.start(poll=poll)
    return running


def _controllers(
    kube: KubeStandIn, catalog: Catalog, stages: list[StageConfig], files: StageFiles, interval: float
) -> list[Controller]:
    repository = catalog.repositories[0]
    source = GitSource(repository.url, branch=repository.branch)
    snapshot = files.snapshot(files.repo.sync())
    controllers = []
    for stage in stages:
        if stage.operator is None:
            continue
        units = stage_units(catalog, stage, snapshot)
        controller = CONTROLLERS[stage.operator.kind](kube, stage.name, source, units, files.declared,
                                                      interval=interval,
                                                      namespace=stage.operator.objects_namespace)  # fmt: skip
        controller.start(at=None if stage.operator.receiver else one_poll_behind(source, units))
        controllers.append(controller)
    return controllers


def _receivers(stages: list[StageConfig], operator: Operator, environ: Mapping[str, str]) -> dict[str, ReceiverStandIn]:
    receivers = {}
    for stage in stages:
        if stage.operator is None or stage.operator.receiver is None:
            continue
        config = stage.operator.receiver
        url, secret = environ.get(config.url_env, ""), environ.get(config.secret_env or "", "") or None
        flux = stage.operator.kind == "flux"
        receiver = ReceiverStandIn(
            flux_secret=secret if flux else None, argo_secret=None if flux else secret,
            on_hook=_hook(operator, stage.name), port=urlparse(url).port or 0,
        ).start()  # fmt: skip
        served = receiver.flux_url if flux else receiver.argo_url
        if url and url != served:
            log.warning("%s is %s but the receiver of %s is at %s", config.url_env, url, stage.name, served)
        receivers[stage.name] = receiver
    return receivers


def _hook(operator: Operator, stage: str) -> Callable[[str, Any], None]:
    """What a call to the stage's receiver does: its operator syncs at once (in the background)."""
    return lambda kind, body: operator.hook(stage)
