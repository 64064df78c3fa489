"""What runs in a stage's cluster, next to what Git declares: pure functions over the
objects a refresh listed (no I/O here, so every rule is easy to test)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from promotions.cluster.labels import parse_selector
from promotions.cluster.target import LiveTarget
from promotions.gitops.yaml.locators import parse_image

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
HEALTH_ORDER = ("Healthy", "Progressing", "Missing", "Degraded", "Unknown")  # worst last
# Live state older than this many refresh intervals (and this many seconds) is stale: shown
# with its age, never as current health, and never moved a promotion along.
STALE_INTERVALS = 3
STALE_MINIMUM_SECONDS = 90
Obj = dict[str, Any]


@dataclass(frozen=True)
class Declared:
    """One application in one stage as Git declares it, and how to find it in the cluster."""

    application: str
    namespace: str
    target: LiveTarget
    version: str | None
    comparable: bool = True  # False when Git's version is not an image tag (a chart version)
    problem: str = ""  # why it cannot be looked for (a bad name or selector): its cell's reason
    path: str = ""  # the file Git declares it in, the commit that last changed it, and its repository:
    change: str = ""  # what the stage's operator must have applied
    repository: str = ""


def stale_after(refresh_seconds: int) -> timedelta:
    """How old live state may be before it is stale, given the refresh interval."""
    return timedelta(seconds=max(STALE_MINIMUM_SECONDS, STALE_INTERVALS * refresh_seconds))


def is_stale(observed_at: datetime, now: datetime, refresh_seconds: int) -> bool:
    return now - observed_at > stale_after(refresh_seconds)


@dataclass
class Observed:
    application: str
    namespace: str
    health: str
    sync: str
    reason: str = ""
    workload: str = ""
    versions: list[str] = field(default_factory=list)
    ready: int | None = None
    desired: int | None = None

    @property
    def version(self) -> str | None:
        return self.versions[0] if len(self.versions) == 1 else None


def unknown(declared: Declared, reason: str) -> Observed:
    return Observed(declared.application, declared.namespace, "Unknown", "Unknown", reason)


class ClusterIndex:
    """The objects one refresh listed, indexed once so that finding an application's
    workloads, ReplicaSets and Pods costs the same with 10 or 10,000 applications."""

    def __init__(self, objects: dict[str, list[Obj]]) -> None:
        self.kinds: dict[int, str] = {}  # id(object) -> kind (list items carry no kind)
        self.by_name: dict[tuple[str, str, str], list[Obj]] = {}
        self.by_label: dict[tuple[str, str, str, str], list[Obj]] = {}
        self.by_namespace: dict[tuple[str, str], list[Obj]] = {}
        self.owned: dict[str, list[Obj]] = {}
        for kind, items in objects.items():
            for obj in items:
                self._add(kind, obj)

    def _add(self, kind: str, obj: Obj) -> None:
        meta = obj.get("metadata", {})
        namespace = meta.get("namespace", "")
        self.kinds[id(obj)] = kind
        self.by_name.setdefault((kind, namespace, meta.get("name", "")), []).append(obj)
        self.by_namespace.setdefault((kind, namespace), []).append(obj)
        for key, value in (meta.get("labels") or {}).items():
            self.by_label.setdefault((kind, namespace, key, value), []).append(obj)
        for owner in meta.get("ownerReferences") or []:
            self.owned.setdefault(owner.get("uid", ""), []).append(obj)

    def candidates(self, kind: str, declared: Declared) -> list[Obj]:
        target, namespace = declared.target, declared.namespace
        if target.name:
            return self.by_name.get((kind, namespace, target.name), [])
        equal = _an_equality(target.selector)
        if equal:
            return self.by_label.get((kind, namespace, *equal), [])
        return self.by_namespace.get((kind, namespace), [])

    def children(self, owner: Obj, kind: str) -> list[Obj]:
        uid = owner.get("metadata", {}).get("uid", "")
        return [o for o in self.owned.get(uid, []) if self.kinds.get(id(o)) == kind]


def _an_equality(selector: str | None) -> tuple[str, str] | None:
    """One `key=value` requirement of the selector, to narrow candidates by index."""
    for requirement in parse_selector(selector).requirements if selector else ():
        if requirement.op == "in" and len(requirement.values) == 1:
            return requirement.key, next(iter(requirement.values))
    return None


def observe(declared: Declared, index: ClusterIndex, unreadable: dict[str, str]) -> Observed:
    """The live state of one application, from the objects listed in its cluster."""
    if declared.namespace in unreadable:
        return unknown(declared, unreadable[declared.namespace])
    workloads = [
        w for kind in _kinds(declared.target) for w in index.candidates(kind, declared) if _matches(w, declared)
    ]
    if not workloads:
        where = f"{declared.target.kind or 'workload'} " + (
            declared.target.name or f"matching {declared.target.selector}"
        )
        observed = Observed(declared.application, declared.namespace, "Missing", "OutOfSync",
                            f"no {where} in namespace {declared.namespace}")  # fmt: skip
        return observed
    parts = [_one(w, declared, index) for w in sorted(workloads, key=_name)]
    return _combine(declared, parts)


def _kinds(target: LiveTarget) -> tuple[str, ...]:
    return (target.kind,) if target.kind else WORKLOAD_KINDS


def _matches(workload: Obj, declared: Declared) -> bool:
    meta = workload.get("metadata", {})
    if meta.get("namespace") != declared.namespace:
        return False
    target = declared.target
    if target.name and meta.get("name") != target.name:
        return False
    return not target.selector or parse_selector(target.selector).matches(meta.get("labels"))


def _name(obj: Obj) -> str:
    return str(obj.get("metadata", {}).get("name", ""))


@dataclass
class _Part:
    health: str
    reason: str
    versions: list[str]
    ready: int
    desired: int
    workload: str
    container_problem: str = ""


def _one(workload: Obj, declared: Declared, index: ClusterIndex) -> _Part:
    kind = index.kinds.get(id(workload), "Deployment")
    health, reason, ready, desired = HEALTH_RULES[kind](workload)
    if health != "Degraded" and (crash := _crash_looping(workload, index)):
        health, reason = "Degraded", crash
    versions, problem = _running_versions(workload, kind, declared.target.container, index)
    return _Part(health, reason, versions, ready, desired, f"{kind}/{_name(workload)}", problem)


def _combine(declared: Declared, parts: list[_Part]) -> Observed:
    worst = max(parts, key=lambda p: HEALTH_ORDER.index(p.health))
    versions = list(dict.fromkeys(v for p in parts for v in p.versions))
    problem = next((p.container_problem for p in parts if p.container_problem), "")
    observed = Observed(
        application=declared.application,
        namespace=declared.namespace,
        health=worst.health,
        sync="Unknown",
        reason=worst.reason or problem,
        workload=", ".join(p.workload for p in parts),
        versions=versions,
        ready=sum(p.ready for p in parts),
        desired=sum(p.desired for p in parts),
    )
    observed.sync = _sync(declared, observed, problem)
    return observed


def _sync(declared: Declared, observed: Observed, problem: str) -> str:
    if problem or not observed.versions or declared.version is None:
        return "Unknown"
    if not declared.comparable:
        observed.reason = observed.reason or "Git declares a chart version, not an image tag: not compared"
        return "Unknown"
    return "Synced" if observed.versions == [declared.version] else "OutOfSync"


# -- health per kind: (health, reason, ready, desired) ----------------------------------------


def _deployment(obj: Obj) -> tuple[str, str, int, int]:
    spec, status = obj.get("spec", {}), obj.get("status", {})
    desired = int(spec.get("replicas", 1))
    updated, ready = int(status.get("updatedReplicas") or 0), int(status.get("readyReplicas") or 0)
    available, total = int(status.get("availableReplicas") or 0), int(status.get("replicas") or 0)
    progressing = _condition(obj, "Progressing")
    if progressing.get("status") == "False" and progressing.get("reason") == "ProgressDeadlineExceeded":
        return "Degraded", progressing.get("message") or "the rollout exceeded its progress deadline", ready, desired
    if int(status.get("observedGeneration") or 0) < int(obj.get("metadata", {}).get("generation") or 0):
        return "Progressing", "the controller has not seen the newest spec yet", ready, desired
    if updated < desired or total > updated or available < updated:
        old = max(0, total - updated)
        return (
            "Progressing",
            f"rolling out: {updated}/{desired} replicas updated, {old} old still running",
            ready,
            desired,
        )
    if desired > 0 and available == 0:
        return "Degraded", "no replica is available", ready, desired
    return "Healthy", "", ready, desired


def _statefulset(obj: Obj) -> tuple[str, str, int, int]:
    spec, status = obj.get("spec", {}), obj.get("status", {})
    desired = int(spec.get("replicas", 1))
    ready, updated = int(status.get("readyReplicas") or 0), int(status.get("updatedReplicas") or 0)
    rolling = status.get("updateRevision") and status.get("currentRevision") != status.get("updateRevision")
    if rolling or updated < desired or ready < desired:
        return "Progressing", f"rolling out: {updated}/{desired} updated, {ready}/{desired} ready", ready, desired
    return "Healthy", "", ready, desired


def _daemonset(obj: Obj) -> tuple[str, str, int, int]:
    status = obj.get("status", {})
    desired = int(status.get("desiredNumberScheduled") or 0)
    updated, available = int(status.get("updatedNumberScheduled") or 0), int(status.get("numberAvailable") or 0)
    ready = int(status.get("numberReady") or 0)
    if updated < desired or available < desired:
        return "Progressing", f"rolling out: {updated}/{desired} nodes updated, {available} available", ready, desired
    return "Healthy", "", ready, desired


HEALTH_RULES = {"Deployment": _deployment, "StatefulSet": _statefulset, "DaemonSet": _daemonset}


def _condition(obj: Obj, kind: str) -> Obj:
    return next((c for c in obj.get("status", {}).get("conditions") or [] if c.get("type") == kind), {})


# -- running versions and pods --------------------------------------------------------------


def _running_versions(workload: Obj, kind: str, container: str, index: ClusterIndex) -> tuple[list[str], str]:
    templates = [workload]
    if kind == "Deployment":
        owned = [rs for rs in index.children(workload, "ReplicaSet") if _replicas(rs) > 0]
        templates = sorted(owned, key=_revision, reverse=True)
        templates = templates or [workload]
    versions, problem = [], ""
    for template in templates:
        image, problem = _image(template, container)
        if image:
            versions.append(parse_image(image).version)
    return list(dict.fromkeys(versions)), problem


def _image(obj: Obj, container: str) -> tuple[str | None, str]:
    containers = obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []
    chosen = [c for c in containers if c.get("name") == container] or (containers if len(containers) == 1 else [])
    if not chosen:
        names = ", ".join(str(c.get("name")) for c in containers) or "none"
        return None, f"no container named {container} (containers: {names})"
    return chosen[0].get("image"), ""


def _revision(rs: Obj) -> tuple[int, str]:
    """Newest first: the Deployment controller numbers its ReplicaSets' revisions."""
    meta = rs.get("metadata", {})
    revision = (meta.get("annotations") or {}).get("deployment.kubernetes.io/revision", "0")
    return (int(revision) if str(revision).isdigit() else 0, meta.get("creationTimestamp", ""))


def _replicas(rs: Obj) -> int:
    return int(rs.get("status", {}).get("replicas") or rs.get("spec", {}).get("replicas") or 0)


def _crash_looping(workload: Obj, index: ClusterIndex) -> str:
    owners = [workload, *index.children(workload, "ReplicaSet")]
    pods = [p for owner in owners for p in index.children(owner, "Pod")]
    for pod in sorted(pods, key=_name):
        for status in pod.get("status", {}).get("containerStatuses") or []:
            waiting = (status.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull"):
                restarts = status.get("restartCount", 0)
                return f"pod {_name(pod)} is failing ({waiting['reason']}, {restarts} restarts)"
    return ""
