"""Pods as the kubelet reports them: running and ready, or crash-looping.

A pod copies its ReplicaSet's template, is owned by it, runs on a sandbox node and
carries `containerStatuses` with the image, an image digest and the container state.
A crash-looping pod's first container (the application) waits in `CrashLoopBackOff`
after exiting with an error; the other containers (sidecars) keep running.
"""

from __future__ import annotations

import copy
import hashlib
import random
import uuid
from typing import Any

from sandbox.kube.builders import SAFE_ALPHABET
from sandbox.kube.store import Obj, now

NODE = "sandbox-node-1"
HOST_IP = "10.0.0.11"
CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
NOT_READY_UNLESS_HEALTHY = ("Ready", "ContainersReady")


def owner_reference(owner: Obj) -> Obj:
    """The controller reference a ReplicaSet puts on its pods (and a Deployment on its ReplicaSets)."""
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def new_pod(replicaset: Obj, *, crashing: bool = False) -> Obj:
    """A pod of `replicaset` (random name suffix, like the ReplicaSet controller's generateName)."""
    rs_meta, template = replicaset["metadata"], replicaset["spec"]["template"]
    name = f"{rs_meta['name']}-{''.join(random.choices(SAFE_ALPHABET, k=5))}"
    spec = copy.deepcopy(template["spec"])
    spec.update(nodeName=NODE, serviceAccountName="default", enableServiceLinks=True, priority=0)
    spec["preemptionPolicy"] = "PreemptLowerPriority"
    pod: Obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "generateName": f"{rs_meta['name']}-",
            "namespace": rs_meta["namespace"],
            "uid": str(uuid.uuid4()),  # known before creation: the back-off message names it
            "labels": dict(template["metadata"].get("labels") or {}),
            "ownerReferences": [owner_reference(replicaset)],
        },
        "spec": spec,
    }
    pod["status"] = _status(pod, crashing, restarts=1 if crashing else 0)
    return pod


def crash_again(pod: Obj) -> Obj:
    """The same crash-looping pod after one more restart (a copy)."""
    restarts = pod["status"]["containerStatuses"][0].get("restartCount", 0) + 1
    again = copy.deepcopy(pod)
    again["status"] = _status(pod, True, restarts, started=pod["status"].get("startTime"))
    return again


def is_ready(pod: Obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", ()))


def is_crashing(pod: Obj) -> bool:
    statuses = pod.get("status", {}).get("containerStatuses") or ()
    return any(s.get("state", {}).get("waiting", {}).get("reason") == "CrashLoopBackOff" for s in statuses)


def _status(pod: Obj, crashing: bool, restarts: int, started: str | None = None) -> Obj:
    stamp = now()
    names = [c["name"] for c in pod["spec"]["containers"]]
    statuses = [
        _container_status(pod, c, crashing and i == 0, restarts if i == 0 else 0)
        for i, c in enumerate(pod["spec"]["containers"])
    ]
    pod_ip = f"10.244.{random.randint(0, 255)}.{random.randint(2, 254)}"
    return {
        "phase": "Running",
        "conditions": _conditions(not crashing, names[0], stamp),
        "hostIP": HOST_IP,
        "hostIPs": [{"ip": HOST_IP}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": started or stamp,
        "containerStatuses": statuses,
        "qosClass": "BestEffort",
    }


def _conditions(healthy: bool, main: str, stamp: str) -> list[Obj]:
    conditions = []
    for kind in CONDITIONS:
        ok = healthy or kind not in NOT_READY_UNLESS_HEALTHY
        condition: Obj = {"type": kind, "status": "True" if ok else "False", "lastProbeTime": None}
        condition["lastTransitionTime"] = stamp
        if not ok:
            condition.update(reason="ContainersNotReady", message=f"containers with unready status: [{main}]")
        conditions.append(condition)
    return conditions


def _container_status(pod: Obj, container: Obj, crashing: bool, restarts: int) -> Obj:
    image, stamp = container["image"], now()
    repository = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    container_id = f"containerd://{_digest(pod['metadata']['name'], container['name'], str(restarts))}"
    status: Obj = {
        "name": container["name"],
        "image": image,
        "imageID": f"{repository}@sha256:{_digest(image)}",
        "containerID": container_id,
        "ready": not crashing,
        "started": not crashing,
        "restartCount": restarts,
    }
    if crashing:
        status["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": _backoff(pod, container, restarts)}}
        status["lastState"] = {"terminated": _terminated(container_id, stamp)}
    else:
        status["state"] = {"running": {"startedAt": stamp}}
        status["lastState"] = {}
    return status


def _backoff(pod: Obj, container: Obj, restarts: int) -> str:
    seconds = min(10 * 2 ** max(restarts - 1, 0), 300)
    meta = pod["metadata"]
    who = f"container={container['name']} pod={meta['name']}_{meta['namespace']}({meta.get('uid', '')})"
    return f"back-off {_duration(seconds)} restarting failed {who}"


def _duration(seconds: int) -> str:
    """Go's time.Duration formatting for whole seconds: 10s, 1m20s, 5m0s."""
    return f"{seconds}s" if seconds < 60 else f"{seconds // 60}m{seconds % 60}s"


def _terminated(container_id: str, stamp: str) -> dict[str, Any]:
    return {
        "exitCode": 1,
        "reason": "Error",
        "startedAt": stamp,
        "finishedAt": stamp,
        "containerID": container_id,
    }


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()
