"""Valid workload objects: Deployments, StatefulSets and DaemonSets as the API server returns them.

Each builder returns a dict with the server's defaults filled in (strategy, pod spec
defaults, container defaults) and a `status` of a workload that finished rolling out,
so it validates strictly against the real schemas and reads like a live object.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from sandbox.kube.store import Obj, now

SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand.SafeEncodeString
ExtraContainer = tuple[str, str] | Mapping[str, Any]


def template_hash(template: Mapping[str, Any]) -> str:
    """A `pod-template-hash`-like value: a 32-bit hash of the template, safe-encoded as Kubernetes does."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    number = int.from_bytes(digest[:4], "big")
    return "".join(SAFE_ALPHABET[ord(char) % len(SAFE_ALPHABET)] for char in str(number))


def container(name: str, image: str) -> Obj:
    """A container with the defaults the API server fills in."""
    untagged = ":" not in image.rsplit("/", 1)[-1]
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "Always" if untagged or image.endswith(":latest") else "IfNotPresent",
        "resources": {},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }


def containers(name: str, image: str, extra: Iterable[ExtraContainer] = ()) -> list[Obj]:
    """The main container plus extras, each given as `(name, image)` or as a full container dict."""
    result = [container(name, image)]
    for item in extra:
        result.append(dict(item) if isinstance(item, Mapping) else container(*item))
    return result


def pod_template(labels: Mapping[str, str], pod_containers: list[Obj]) -> Obj:
    """A pod template with the pod spec defaults (restart policy, DNS, scheduler, grace period)."""
    spec = {
        "containers": pod_containers,
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "securityContext": {},
        "schedulerName": "default-scheduler",
    }
    return {"metadata": {"labels": dict(labels)}, "spec": spec}


def deployment_condition(kind: str, status: bool, reason: str, message: str, since: str | None = None) -> Obj:
    """One Deployment condition; `since` keeps an earlier lastTransitionTime when the status did not flip."""
    stamp = now()
    return {
        "type": kind,
        "status": "True" if status else "False",
        "lastUpdateTime": stamp,
        "lastTransitionTime": since or stamp,
        "reason": reason,
        "message": message,
    }


def settled_conditions(replicaset: str) -> list[Obj]:
    """Available + Progressing/NewReplicaSetAvailable: a finished rollout."""
    return [
        deployment_condition("Available", True, "MinimumReplicasAvailable", "Deployment has minimum availability."),
        deployment_condition(
            "Progressing", True, "NewReplicaSetAvailable", f'ReplicaSet "{replicaset}" has successfully progressed.'
        ),
    ]


def deployment(
    name: str,
    namespace: str,
    image: str,
    container: str | None = None,
    replicas: int = 2,
    labels: Mapping[str, str] | None = None,
    extra_containers: Iterable[ExtraContainer] = (),
) -> Obj:
    """An apps/v1 Deployment whose rollout finished (`replicas` ready, revision 1)."""
    labels = dict(labels or {"app.kubernetes.io/name": name})
    template = pod_template(labels, containers(container or name, image, extra_containers))
    spec = {
        "replicas": replicas,
        "selector": {"matchLabels": dict(labels)},
        "template": template,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
    }
    status: Obj = {"observedGeneration": 1, "conditions": settled_conditions(f"{name}-{template_hash(template)}")}
    if replicas:
        status.update(replicas=replicas, updatedReplicas=replicas, readyReplicas=replicas, availableReplicas=replicas)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(name, namespace, labels, {"deployment.kubernetes.io/revision": "1"}),
        "spec": spec,
        "status": status,
    }


def statefulset(
    name: str,
    namespace: str,
    image: str,
    container: str | None = None,
    replicas: int = 2,
    labels: Mapping[str, str] | None = None,
    extra_containers: Iterable[ExtraContainer] = (),
) -> Obj:
    """An apps/v1 StatefulSet with every replica ready on the current revision."""
    labels = dict(labels or {"app.kubernetes.io/name": name})
    template = pod_template(labels, containers(container or name, image, extra_containers))
    revision = f"{name}-{template_hash(template)}"
    spec = {
        "replicas": replicas,
        "selector": {"matchLabels": dict(labels)},
        "serviceName": name,
        "template": template,
        "podManagementPolicy": "OrderedReady",
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
        "revisionHistoryLimit": 10,
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
    }
    status = {
        "observedGeneration": 1,
        "replicas": replicas,
        "readyReplicas": replicas,
        "currentReplicas": replicas,
        "updatedReplicas": replicas,
        "availableReplicas": replicas,
        "currentRevision": revision,
        "updateRevision": revision,
        "collisionCount": 0,
    }
    return _workload("StatefulSet", name, namespace, labels, spec, status)


def daemonset(
    name: str,
    namespace: str,
    image: str,
    container: str | None = None,
    nodes: int = 3,
    labels: Mapping[str, str] | None = None,
    extra_containers: Iterable[ExtraContainer] = (),
) -> Obj:
    """An apps/v1 DaemonSet running one ready pod on each of `nodes` nodes."""
    labels = dict(labels or {"app.kubernetes.io/name": name})
    template = pod_template(labels, containers(container or name, image, extra_containers))
    spec = {
        "selector": {"matchLabels": dict(labels)},
        "template": template,
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
        "revisionHistoryLimit": 10,
    }
    status = {
        "observedGeneration": 1,
        "currentNumberScheduled": nodes,
        "desiredNumberScheduled": nodes,
        "numberMisscheduled": 0,
        "numberReady": nodes,
        "numberAvailable": nodes,
        "updatedNumberScheduled": nodes,
    }
    return _workload("DaemonSet", name, namespace, labels, spec, status)


def _workload(kind: str, name: str, namespace: str, labels: Mapping[str, str], spec: Obj, status: Obj) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": _metadata(name, namespace, labels),
        "spec": spec,
        "status": status,
    }


def _metadata(
    name: str, namespace: str, labels: Mapping[str, str], annotations: Mapping[str, str] | None = None
) -> Obj:
    meta: Obj = {"name": name, "namespace": namespace, "labels": dict(labels)}
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta
