"""The Deployment controller, simulated one step at a time on the stand-in's store.

A template change gets a ReplicaSet named `<deployment>-<pod-template-hash>` (an older
one with the same template is reused, as on a rollback). Each `advance` moves one
replica: the new ReplicaSet up, an old one down. A failing rollout surges crash-looping
pods and keeps the old ones (maxUnavailable rounds down to 0 for small Deployments)
until `time_out` marks `Progressing=False/ProgressDeadlineExceeded`. A new replica count
(`resize`) scales the current ReplicaSet; `crash` makes running pods crash-loop with no
rollout at all. Every write is a separate update, as the real controllers make them, so
watchers see each one.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from sandbox.kube import pods
from sandbox.kube.builders import deployment_condition, template_hash
from sandbox.kube.resources import lookup
from sandbox.kube.store import Obj, Store

DEPLOYMENTS, REPLICASETS, PODS = lookup("deployments"), lookup("replicasets"), lookup("pods")
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"


def create(store: Store, cluster: str, deployment: Obj) -> Obj:
    """Apply a Deployment and bring it up at once: its ReplicaSet, ready Pods and a finished status."""
    stored = store.put(cluster, {**deployment, "status": {}})
    replicaset = ensure_replicaset(store, cluster, stored)
    scale(store, cluster, replicaset, stored["spec"].get("replicas", 1))
    return refresh(store, cluster, stored["metadata"]["namespace"], stored["metadata"]["name"])


def begin(store: Store, cluster: str, namespace: str, name: str, container: str, image: str) -> Obj:
    """Change one container's image in the template: a new generation and a (new or reused) ReplicaSet."""
    deployment = _get(store, cluster, DEPLOYMENTS.plural, namespace, name)
    for spec_container in deployment["spec"]["template"]["spec"]["containers"]:
        if spec_container["name"] == container:
            spec_container["image"] = image
    stored = store.put(cluster, deployment)
    ensure_replicaset(store, cluster, stored)
    return refresh(store, cluster, namespace, name, note="created")


def advance(store: Store, cluster: str, namespace: str, name: str, *, crashing: bool = False) -> bool:
    """One controller step; True once the rollout is complete (never for a crashing one)."""
    deployment = _get(store, cluster, DEPLOYMENTS.plural, namespace, name)
    new, olds = split_replicasets(store, cluster, deployment)
    desired = deployment["spec"].get("replicas", 1)
    if crashing:
        _surge_crashing(store, cluster, deployment, new, olds)
    else:
        _step_healthy(store, cluster, new, olds, desired)
    return _is_complete(refresh(store, cluster, namespace, name))


def resize(store: Store, cluster: str, namespace: str, name: str, replicas: int) -> Obj:
    """The manifests changed the replica count: the current ReplicaSet follows at once when no rollout is
    under way (a rollout in flight heads for the new count), and never stays above it."""
    deployment = _get(store, cluster, DEPLOYMENTS.plural, namespace, name)
    deployment["spec"]["replicas"] = replicas
    new, olds = split_replicasets(store, cluster, store.put(cluster, deployment))
    if new["spec"]["replicas"] > replicas or not any(old["spec"]["replicas"] for old in olds):
        scale(store, cluster, new, replicas)
    return refresh(store, cluster, namespace, name)


def crash(store: Store, cluster: str, namespace: str, name: str, pods_count: int) -> Obj:
    """`pods_count` of the Deployment's ready pods start crash-looping where they run, with no rollout (a
    dependency went away): ready replicas drop, and Available turns False below the minimum."""
    deployment = _get(store, cluster, DEPLOYMENTS.plural, namespace, name)
    new, _olds = split_replicasets(store, cluster, deployment)
    ready = [pod for pod in owned(store, cluster, new, PODS.plural) if pods.is_ready(pod)]
    for pod in ready[:pods_count]:
        store.put(cluster, pods.crash_again(pod))
    _refresh_replicaset(store, cluster, new)
    return refresh(store, cluster, namespace, name)


def time_out(store: Store, cluster: str, namespace: str, name: str) -> Obj:
    """The progress deadline passed: `Progressing=False`, reason `ProgressDeadlineExceeded`."""
    return refresh(store, cluster, namespace, name, note="timed_out")


def _step_healthy(store: Store, cluster: str, new: Obj, olds: list[Obj], desired: int) -> None:
    olds = [_drop_unready(store, cluster, old) for old in olds]
    if new["spec"]["replicas"] < desired:
        scale(store, cluster, new, new["spec"]["replicas"] + 1)
    for old in olds:
        if old["spec"]["replicas"]:
            scale(store, cluster, old, old["spec"]["replicas"] - 1)
            return


def _drop_unready(store: Store, cluster: str, old: Obj) -> Obj:
    """Like cleanupUnhealthyReplicas: an old ReplicaSet's pods that never became ready go first."""
    ready = old.get("status", {}).get("readyReplicas", 0)
    return scale(store, cluster, old, ready) if ready < old["spec"]["replicas"] else old


def _surge_crashing(store: Store, cluster: str, deployment: Obj, new: Obj, olds: list[Obj]) -> None:
    desired = deployment["spec"].get("replicas", 1)
    surge, unavailable = budgets(deployment)
    target = min(desired, surge + unavailable)
    if new["spec"]["replicas"] < target:
        scale(store, cluster, new, target, crashing=True)
    else:
        for pod in owned(store, cluster, new, PODS.plural):
            if pods.is_crashing(pod):
                store.put(cluster, pods.crash_again(pod))
    keep = desired - unavailable
    for old in olds:
        if old["spec"]["replicas"] > keep:
            scale(store, cluster, old, keep)
        keep = max(keep - old["spec"]["replicas"], 0)


def scale(store: Store, cluster: str, replicaset: Obj, replicas: int, *, crashing: bool = False) -> Obj:
    """Set a ReplicaSet's replicas, create or delete its Pods to match, then update its status."""
    replicaset = _get(
        store, cluster, REPLICASETS.plural, replicaset["metadata"]["namespace"], replicaset["metadata"]["name"]
    )
    replicaset["spec"]["replicas"] = replicas
    replicaset = store.put(cluster, replicaset)
    current = sorted(owned(store, cluster, replicaset, PODS.plural), key=pods.is_ready)  # unready pods go first
    for pod in current[: max(len(current) - replicas, 0)]:
        store.remove(cluster, PODS, pod["metadata"]["namespace"], pod["metadata"]["name"])
    for _ in range(replicas - len(current)):
        store.put(cluster, pods.new_pod(replicaset, crashing=crashing))
    return _refresh_replicaset(store, cluster, replicaset)


def _refresh_replicaset(store: Store, cluster: str, replicaset: Obj) -> Obj:
    members = owned(store, cluster, replicaset, PODS.plural)
    ready = sum(1 for pod in members if pods.is_ready(pod))
    status = {"replicas": len(members), "fullyLabeledReplicas": len(members), "readyReplicas": ready}
    status.update(availableReplicas=ready, observedGeneration=replicaset["metadata"]["generation"])
    replicaset["status"] = {key: value for key, value in status.items() if value or key == "replicas"}
    return store.put(cluster, replicaset)


def ensure_replicaset(store: Store, cluster: str, deployment: Obj) -> Obj:
    """The ReplicaSet for the Deployment's current template, created at 0 replicas or reused (new revision)."""
    wanted = template_hash(deployment["spec"]["template"])
    existing = owned(store, cluster, deployment, REPLICASETS.plural)
    revision = max((_revision(rs) for rs in existing), default=0)
    for replicaset in existing:
        if replicaset["metadata"]["labels"].get(HASH_LABEL) == wanted:
            if _revision(replicaset) < revision:
                replicaset["metadata"]["annotations"][REVISION] = str(revision + 1)
                return store.put(cluster, replicaset)
            return replicaset
    return store.put(cluster, _new_replicaset(deployment, wanted, revision + 1))


def _new_replicaset(deployment: Obj, pod_hash: str, revision: int) -> Obj:
    meta, spec = deployment["metadata"], deployment["spec"]
    labels = {**(spec["template"]["metadata"].get("labels") or {}), HASH_LABEL: pod_hash}
    desired = spec.get("replicas", 1)
    annotations = {
        "deployment.kubernetes.io/desired-replicas": str(desired),
        "deployment.kubernetes.io/max-replicas": str(desired + budgets(deployment)[0]),
        REVISION: str(revision),
    }
    template = {"metadata": {"labels": labels}, "spec": spec["template"]["spec"]}
    selector = {"matchLabels": {**spec["selector"].get("matchLabels", {}), HASH_LABEL: pod_hash}}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{meta['name']}-{pod_hash}",
            "namespace": meta["namespace"],
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [pods.owner_reference(deployment)],
        },
        "spec": {"replicas": 0, "selector": selector, "template": template},
        "status": {"replicas": 0},
    }


def refresh(store: Store, cluster: str, namespace: str, name: str, note: str | None = None) -> Obj:
    """Recompute the Deployment's status from its ReplicaSets (calculateStatus), then its conditions."""
    deployment = _get(store, cluster, DEPLOYMENTS.plural, namespace, name)
    new, olds = split_replicasets(store, cluster, deployment)
    everything = [new, *olds]
    available = sum(rs.get("status", {}).get("availableReplicas", 0) for rs in everything)
    counts = {
        "replicas": sum(rs.get("status", {}).get("replicas", 0) for rs in everything),
        "updatedReplicas": new.get("status", {}).get("replicas", 0),
        "readyReplicas": sum(rs.get("status", {}).get("readyReplicas", 0) for rs in everything),
        "availableReplicas": available,
        "unavailableReplicas": max(sum(rs["spec"]["replicas"] for rs in everything) - available, 0),
    }
    status: dict[str, Any] = {"observedGeneration": deployment["metadata"]["generation"]}
    status.update({key: value for key, value in counts.items() if value})
    status["conditions"] = _conditions(deployment, new, olds, available, note)
    deployment["status"] = status
    deployment["metadata"].setdefault("annotations", {})[REVISION] = new["metadata"]["annotations"][REVISION]
    return store.put(cluster, deployment)


def _conditions(deployment: Obj, new: Obj, olds: list[Obj], available: int, note: str | None) -> list[Obj]:
    desired = deployment["spec"].get("replicas", 1)
    previous = {c["type"]: c for c in deployment.get("status", {}).get("conditions") or ()}
    enough = available >= desired - budgets(deployment)[1]
    availability = ("MinimumReplicasAvailable", "Deployment has minimum availability.")
    if not enough:
        availability = ("MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
    progress = _progress(new, olds, desired, note, previous.get("Progressing"))
    return [
        _condition(previous, "Available", enough, *availability),
        _condition(previous, "Progressing", progress[0], progress[1], progress[2]),
    ]


def _progress(new: Obj, olds: list[Obj], desired: int, note: str | None, before: Obj | None) -> tuple[bool, str, str]:
    name = new["metadata"]["name"]
    done = new.get("status", {}).get("availableReplicas", 0) == desired == new["spec"]["replicas"]
    if done and not any(old["spec"]["replicas"] or old.get("status", {}).get("replicas") for old in olds):
        return True, "NewReplicaSetAvailable", f'ReplicaSet "{name}" has successfully progressed.'
    stuck = before is not None and before["reason"] == "ProgressDeadlineExceeded" and f'"{name}"' in before["message"]
    if note == "timed_out" or stuck:
        return False, "ProgressDeadlineExceeded", f'ReplicaSet "{name}" has timed out progressing.'
    if note == "created":
        return True, "NewReplicaSetCreated", f'Created new replica set "{name}"'
    return True, "ReplicaSetUpdated", f'ReplicaSet "{name}" is progressing.'


def _condition(previous: dict[str, Obj], kind: str, status: bool, reason: str, message: str) -> Obj:
    before = previous.get(kind) or {}
    since = before.get("lastTransitionTime") if before.get("status") == ("True" if status else "False") else None
    return deployment_condition(kind, status, reason, message, since=since)


def split_replicasets(store: Store, cluster: str, deployment: Obj) -> tuple[Obj, list[Obj]]:
    """(the ReplicaSet of the current template, the older ones), creating the former if needed."""
    new = ensure_replicaset(store, cluster, deployment)
    olds = [
        rs
        for rs in owned(store, cluster, deployment, REPLICASETS.plural)
        if rs["metadata"]["uid"] != new["metadata"]["uid"]
    ]
    return new, sorted(olds, key=_revision)


def budgets(deployment: Obj) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) in replicas: percentages round up and down respectively, as Kubernetes does."""
    desired = deployment["spec"].get("replicas", 1)
    rolling = deployment["spec"].get("strategy", {}).get("rollingUpdate") or {}
    surge = _amount(rolling.get("maxSurge", "25%"), desired, math.ceil)
    unavailable = _amount(rolling.get("maxUnavailable", "25%"), desired, math.floor)
    return (surge, unavailable) if surge or unavailable else (0, 1)


def _amount(value: int | str, desired: int, rounding: Any) -> int:
    if isinstance(value, str) and value.endswith("%"):
        return int(rounding(desired * int(value[:-1]) / 100))
    return int(value)


def owned(store: Store, cluster: str, owner: Obj, plural: str) -> list[Obj]:
    """The objects of `plural` in the owner's namespace that name it as their controller."""
    uid = owner["metadata"]["uid"]
    with store.lock:
        candidates = store.cluster(cluster).items(lookup(plural), owner["metadata"].get("namespace"))
        return [copy.deepcopy(obj) for obj in candidates if _owned_by(obj, uid)]


def _owned_by(obj: Obj, uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or ())


def _get(store: Store, cluster: str, plural: str, namespace: str, name: str) -> Obj:
    found = store.get(cluster, lookup(plural), namespace, name)
    if found is None:
        raise LookupError(f"{plural} {namespace}/{name} not found in cluster {cluster}")
    return found


def _revision(replicaset: Obj) -> int:
    return int(replicaset["metadata"].get("annotations", {}).get(REVISION, "0"))


def _is_complete(deployment: Obj) -> bool:
    progressing = [c for c in deployment["status"]["conditions"] if c["type"] == "Progressing"]
    return bool(progressing) and progressing[0]["reason"] == "NewReplicaSetAvailable"


def image_of(deployment: Obj, container: str) -> str | None:
    """The image of one container of the Deployment's template (None if there is no such container)."""
    for spec_container in deployment["spec"]["template"]["spec"]["containers"]:
        if spec_container["name"] == container:
            return str(spec_container["image"])
    return None
