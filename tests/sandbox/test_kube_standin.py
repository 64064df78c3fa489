"""The Kubernetes stand-in, driven the way the portal drives clusters: the official kubernetes client
over real HTTP, configured from a kubeconfig with one context per stage cluster.

Production runs the shop (web, api, worker in `shop-prod`) and billing (`billing-prod`);
the simulated GitOps operator rolls web out whenever the `git` dict says so.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import urllib3
from kubernetes import client, config, watch
from kubernetes.client import ApiClient, ApiException, AppsV1Api, CoreV1Api

from sandbox.kube import KubeStandIn, Operator

CLUSTERS = ("dev", "staging", "production")
PORTAL = "system:serviceaccount:gitops-portal:portal"
WEB = "ghcr.io/acme/web"
ROOT = Path(__file__).resolve().parents[2]


# -- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture
def kube() -> Iterator[KubeStandIn]:
    with KubeStandIn(token="portal-token", clusters=CLUSTERS) as standin:
        yield standin


@pytest.fixture
def kubeconfig(kube: KubeStandIn, tmp_path: Path) -> Path:
    return kube.write_kubeconfig(tmp_path / "kubeconfig", clusters=list(CLUSTERS))


@pytest.fixture
def connect(kubeconfig: Path) -> Iterator[Callable[..., ApiClient]]:
    """Make API clients from a kubeconfig (the valid one by default); all closed afterwards."""
    made: list[ApiClient] = []

    def make(context: str = "production", config_file: Path = kubeconfig) -> ApiClient:
        made.append(config.new_client_from_config(config_file=str(config_file), context=context))
        return made[-1]

    yield make
    for api_client in made:
        api_client.close()


@pytest.fixture
def apps(connect: Callable[..., ApiClient]) -> AppsV1Api:
    return AppsV1Api(connect())


@pytest.fixture
def core(connect: Callable[..., ApiClient]) -> CoreV1Api:
    return CoreV1Api(connect())


@pytest.fixture
def shop(kube: KubeStandIn) -> None:
    """web (frontend), api (backend), worker (no tier) in shop-prod; billing (backend) in billing-prod."""
    for name, tier in (("web", "frontend"), ("api", "backend"), ("worker", None)):
        labels = {"app.kubernetes.io/name": name, "team": "shop", **({"tier": tier} if tier else {})}
        kube.deploy("production", kube.deployment(name, "shop-prod", f"ghcr.io/acme/{name}:1.0", labels=labels))
    labels = {"app.kubernetes.io/name": "billing", "team": "billing", "tier": "backend"}
    kube.deploy("production", kube.deployment("billing", "billing-prod", "ghcr.io/acme/billing:3.2", labels=labels))


@pytest.fixture
def git() -> dict[tuple[str, str], tuple[str, str]]:
    """What the production folder of the GitOps repository declares (tests edit it)."""
    return {("shop-prod", "web"): (WEB, "1.0")}


@pytest.fixture
def operator(kube: KubeStandIn, git: dict[tuple[str, str], tuple[str, str]]) -> Iterator[Operator]:
    """An operator syncing production from `git` (other clusters declare nothing); stopped afterwards."""
    op = Operator(kube, lambda cluster: dict(git) if cluster == "production" else {})
    op.sync_now()
    yield op
    op.stop()


def names(items: list[Any]) -> list[str]:
    return [item.metadata.name for item in items]


def status_of(error: ApiException) -> dict[str, Any]:
    return json.loads(error.body)


def raw(call: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """The JSON the server sent for one client call (no deserialisation into models)."""
    return json.loads(call(*args, _preload_content=False, **kwargs).data)


def condition(obj: Any, kind: str) -> Any:
    return next(c for c in obj.status.conditions if c.type == kind)


def eventually(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s")
        time.sleep(0.02)
    return result


def read_web(apps: AppsV1Api) -> Any:
    return apps.read_namespaced_deployment("web", "shop-prod")


def validate(obj: dict[str, Any], kind: str | None = None, api_version: str | None = None) -> None:
    """Strict schema validation; list items get back the kind/apiVersion the server leaves out."""
    full = {"kind": kind, "apiVersion": api_version, **obj} if kind else obj
    try:
        kubernetes_validate.validate(full, kubernetes_validate.latest_version(), strict=True)
    except kubernetes_validate.ValidationError as error:
        pytest.fail(f"{full['kind']} {full['metadata']['name']} is invalid: {str(error).splitlines()[0]}")


def rollout_state(kube: KubeStandIn) -> dict[str, tuple[int, str]]:
    """web's ReplicaSets in production: name -> (spec.replicas, image)."""
    return {
        rs["metadata"]["name"]: (rs["spec"]["replicas"], rs["spec"]["template"]["spec"]["containers"][0]["image"])
        for rs in kube.objects("production", "ReplicaSet", "shop-prod")
        if rs["metadata"]["ownerReferences"][0]["name"] == "web"
    }


# -- listing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("tier=frontend", ["web"]),
        ("tier==backend", ["api"]),
        ("tier!=frontend", ["api", "worker"]),
        ("tier in (frontend, backend)", ["api", "web"]),
        ("tier notin (frontend)", ["api", "worker"]),
        ("tier", ["api", "web"]),
        ("!tier", ["worker"]),
        ("team=shop,tier in (backend,batch)", ["api"]),
        ("app.kubernetes.io/name=web", ["web"]),
    ],
)
@pytest.mark.usefixtures("shop")
def test_it_lists_deployments_by_each_label_selector_form(apps: AppsV1Api, selector: str, expected: list[str]) -> None:
    assert names(apps.list_namespaced_deployment("shop-prod", label_selector=selector).items) == expected


@pytest.mark.usefixtures("shop")
def test_it_rejects_a_malformed_label_selector_with_400(apps: AppsV1Api) -> None:
    with pytest.raises(ApiException) as raised:
        apps.list_namespaced_deployment("shop-prod", label_selector="tier in frontend")
    assert raised.value.status == 400
    assert status_of(raised.value)["reason"] == "BadRequest"


@pytest.mark.usefixtures("shop")
def test_it_selects_by_name_and_namespace_fields(apps: AppsV1Api, core: CoreV1Api) -> None:
    assert names(apps.list_deployment_for_all_namespaces(field_selector="metadata.name=billing").items) == ["billing"]
    everywhere_but_shop = apps.list_deployment_for_all_namespaces(field_selector="metadata.namespace!=shop-prod")
    assert names(everywhere_but_shop.items) == ["billing"]
    running = core.list_namespaced_pod("shop-prod", field_selector="status.phase=Running,metadata.namespace=shop-prod")
    assert len(running.items) == 6
    with pytest.raises(ApiException) as raised:
        apps.list_deployment_for_all_namespaces(field_selector="spec.replicas=2")
    assert (raised.value.status, status_of(raised.value)["message"]) == (
        400,
        "field label not supported: spec.replicas",
    )


@pytest.mark.usefixtures("shop")
def test_it_lists_cluster_wide_or_in_one_namespace_like_the_api_server(apps: AppsV1Api) -> None:
    everywhere = apps.list_deployment_for_all_namespaces()
    in_shop = apps.list_namespaced_deployment("shop-prod")
    assert [(d.metadata.namespace, d.metadata.name) for d in everywhere.items] == [
        ("billing-prod", "billing"),
        ("shop-prod", "api"),
        ("shop-prod", "web"),
        ("shop-prod", "worker"),
    ]
    assert names(in_shop.items) == ["api", "web", "worker"]
    assert (in_shop.kind, in_shop.api_version) == ("DeploymentList", "apps/v1")
    assert int(in_shop.metadata.resource_version) > 1000
    assert in_shop.items[0].kind is None, "list items carry no kind, as on a real cluster"
    assert apps.list_namespaced_deployment("no-such-namespace").items == []


@pytest.mark.usefixtures("shop")
def test_it_pages_with_limit_and_continue(apps: AppsV1Api) -> None:
    first = apps.list_deployment_for_all_namespaces(limit=3)
    second = apps.list_deployment_for_all_namespaces(limit=3, _continue=first.metadata._continue)
    assert (names(first.items), first.metadata.remaining_item_count) == (["billing", "api", "web"], 1)
    assert (names(second.items), second.metadata._continue) == (["worker"], None)
    assert second.metadata.resource_version == first.metadata.resource_version
    with pytest.raises(ApiException) as raised:
        apps.list_deployment_for_all_namespaces(limit=3, _continue="not-a-token")
    assert raised.value.status == 400


@pytest.mark.usefixtures("shop")
def test_it_reads_a_named_deployment_and_answers_404_with_a_not_found_status(apps: AppsV1Api) -> None:
    web = apps.read_namespaced_deployment("web", "shop-prod")
    assert (web.kind, web.spec.template.spec.containers[0].image) == ("Deployment", "ghcr.io/acme/web:1.0")
    with pytest.raises(ApiException) as raised:
        apps.read_namespaced_deployment("shop", "shop-prod")
    assert raised.value.status == 404
    assert status_of(raised.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'deployments.apps "shop" not found',
        "reason": "NotFound",
        "details": {"name": "shop", "group": "apps", "kind": "deployments"},
        "code": 404,
    }


def test_it_answers_404_for_a_cluster_it_does_not_serve(
    kube: KubeStandIn, connect: Callable[..., ApiClient], tmp_path: Path
) -> None:
    stray = kube.write_kubeconfig(tmp_path / "stray", clusters=["qa"])
    with pytest.raises(ApiException) as raised:
        AppsV1Api(connect("qa", stray)).list_namespaced_deployment("shop-prod")
    assert (raised.value.status, status_of(raised.value)["reason"]) == (404, "NotFound")


@pytest.mark.usefixtures("shop")
def test_it_serves_namespaces_pods_version_and_discovery(connect: Callable[..., ApiClient]) -> None:
    api = connect()
    assert "shop-prod" in names(CoreV1Api(api).list_namespace().items)
    assert CoreV1Api(api).read_namespace("kube-system").status.phase == "Active"
    web_pods = CoreV1Api(api).list_namespaced_pod("shop-prod", label_selector="app.kubernetes.io/name=web").items
    assert [p.status.container_statuses[0].image for p in web_pods] == ["ghcr.io/acme/web:1.0"] * 2
    assert web_pods[0].metadata.owner_references[0].kind == "ReplicaSet"
    assert client.VersionApi(api).get_code().git_version.startswith("v1.")
    assert client.CoreApi(api).get_api_versions().versions == ["v1"]
    assert [g.name for g in client.ApisApi(api).get_api_versions().groups] == ["apps"]
    assert "deployments" in [r.name for r in AppsV1Api(api).get_api_resources().resources]


# -- authentication, authorisation, faults -----------------------------------------------------


def test_it_rejects_a_wrong_token_with_401(
    kube: KubeStandIn, connect: Callable[..., ApiClient], tmp_path: Path
) -> None:
    wrong = kube.write_kubeconfig(tmp_path / "wrong", token="stolen-token")
    with pytest.raises(ApiException) as raised:
        AppsV1Api(connect("production", wrong)).list_deployment_for_all_namespaces()
    assert raised.value.status == 401
    assert status_of(raised.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }


@pytest.mark.usefixtures("shop")
def test_it_forbids_reads_outside_the_granted_namespaces(kube: KubeStandIn, apps: AppsV1Api) -> None:
    kube.allow("production", cluster_wide=False, namespaces=["shop-prod"])
    assert names(apps.list_namespaced_deployment("shop-prod").items) == ["api", "web", "worker"]
    with pytest.raises(ApiException) as namespaced:
        apps.list_namespaced_deployment("billing-prod")
    with pytest.raises(ApiException) as cluster_wide:
        apps.list_deployment_for_all_namespaces()
    assert (namespaced.value.status, cluster_wide.value.status) == (403, 403)
    assert status_of(namespaced.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'deployments.apps is forbidden: User "{PORTAL}" cannot list resource "deployments" in API group "apps" in the namespace "billing-prod"',
        "reason": "Forbidden",
        "details": {"group": "apps", "kind": "deployments"},
        "code": 403,
    }
    assert status_of(cluster_wide.value)["message"] == (
        f'deployments.apps is forbidden: User "{PORTAL}" cannot list resource "deployments" in API group "apps" at the cluster scope'
    )


@pytest.mark.usefixtures("shop")
def test_it_forbids_resources_outside_the_role(kube: KubeStandIn, core: CoreV1Api, apps: AppsV1Api) -> None:
    kube.allow("production", resources=["deployments", "replicasets"])
    assert len(apps.list_deployment_for_all_namespaces().items) == 4
    with pytest.raises(ApiException) as raised:
        core.list_pod_for_all_namespaces()
    assert status_of(raised.value)["message"] == (
        f'pods is forbidden: User "{PORTAL}" cannot list resource "pods" in API group "" at the cluster scope'
    )
    assert status_of(raised.value)["details"] == {"kind": "pods"}
    kube.allow("production", cluster_wide=False, namespaces=["shop-prod"])
    assert core.read_namespace("shop-prod").metadata.name == "shop-prod", "a Role in a namespace may read it"
    with pytest.raises(ApiException) as raised:
        core.read_namespace("kube-system")
    assert status_of(raised.value)["message"].startswith('namespaces "kube-system" is forbidden: User')


def test_it_times_out_a_call_the_server_delays(kube: KubeStandIn, apps: AppsV1Api) -> None:
    # urllib3 retries a read timeout on GET up to 3 times: one slow answer is absorbed silently...
    kube.inject("production", path="/deployments$", delay=1.0, times=1)
    assert apps.list_namespaced_deployment("shop-prod", _request_timeout=0.5).items == []
    # ...a server that stays slow is not: four attempts, then the call fails.
    kube.clear_calls()
    kube.inject("production", path="/deployments$", delay=1.0, times=None)
    started = time.monotonic()
    with pytest.raises(urllib3.exceptions.MaxRetryError) as raised:
        apps.list_namespaced_deployment("shop-prod", _request_timeout=0.5)
    assert isinstance(raised.value.reason, urllib3.exceptions.ReadTimeoutError)
    assert time.monotonic() - started < 3.0
    assert len(kube.calls) == 4


def test_it_answers_an_injected_status_once(kube: KubeStandIn, apps: AppsV1Api) -> None:
    kube.inject("production", path=r"/namespaces/shop-prod/deployments$", status=500)
    with pytest.raises(ApiException) as raised:
        apps.list_namespaced_deployment("shop-prod")
    assert (raised.value.status, status_of(raised.value)["reason"]) == (500, "InternalError")
    assert apps.list_namespaced_deployment("shop-prod").items == []


@pytest.mark.usefixtures("shop")
def test_it_records_every_call_with_its_query(kube: KubeStandIn, apps: AppsV1Api) -> None:
    kube.clear_calls()
    apps.list_namespaced_deployment("shop-prod", label_selector="tier=frontend")
    apps.list_namespaced_deployment("shop-prod")
    apps.read_namespaced_deployment("web", "shop-prod")
    lists = [c for c in kube.calls if c.method == "GET" and c.path.endswith("/deployments")]
    assert [(c.cluster, c.path, c.query) for c in lists] == [
        ("production", "/apis/apps/v1/namespaces/shop-prod/deployments", {"labelSelector": "tier=frontend"}),
        ("production", "/apis/apps/v1/namespaces/shop-prod/deployments", {}),
    ]
    assert kube.calls[-1] == ("production", "GET", "/apis/apps/v1/namespaces/shop-prod/deployments/web", {})


# -- watches -----------------------------------------------------------------------------------


def test_it_streams_modified_events_during_a_rollout(
    apps: AppsV1Api, operator: Operator, git: dict[tuple[str, str], tuple[str, str]]
) -> None:
    since = apps.list_namespaced_deployment("shop-prod").metadata.resource_version
    operator.delay, operator.step = 0.05, 0.05
    operator.start(poll=0.02)
    git[("shop-prod", "web")] = (WEB, "1.1")
    seen: list[tuple[str, int, str, int | None]] = []
    stream = watch.Watch().stream(
        apps.list_namespaced_deployment, "shop-prod", resource_version=since, timeout_seconds=5
    )
    for event in stream:
        web = event["object"]
        reason = condition(web, "Progressing").reason
        seen.append((event["type"], int(web.metadata.resource_version), reason, web.status.updated_replicas))
        if reason == "NewReplicaSetAvailable" and web.status.observed_generation == 2:
            break
    assert {kind for kind, *_ in seen} == {"MODIFIED"}
    versions = [rv for _, rv, *_ in seen]
    assert versions == sorted(versions)
    assert versions[0] > int(since)
    assert [(reason, updated) for *_, reason, updated in seen][-3:] == [
        ("NewReplicaSetCreated", None),
        ("ReplicaSetUpdated", 1),
        ("NewReplicaSetAvailable", 2),
    ]


@pytest.mark.usefixtures("shop")
def test_it_sends_added_and_deleted_as_objects_enter_and_leave_a_selection(kube: KubeStandIn, apps: AppsV1Api) -> None:
    since = kube.resource_version("production")
    worker = kube.get("production", "Deployment", "shop-prod", "worker")
    assert worker is not None
    worker["metadata"]["labels"]["tier"] = "frontend"
    kube.apply("production", worker)
    kube.delete("production", "deployments", "shop-prod", "web")
    stream = watch.Watch().stream(
        apps.list_namespaced_deployment,
        "shop-prod",
        label_selector="tier=frontend",
        resource_version=since,
        timeout_seconds=1,
    )
    assert [(e["type"], e["object"].metadata.name) for e in stream] == [("ADDED", "worker"), ("DELETED", "web")]
    assert kube.objects("production", "ReplicaSet", "shop-prod") != [], "api and worker keep theirs"
    assert not [rs for rs in kube.objects("production", "ReplicaSet") if rs["metadata"]["name"].startswith("web-")]


@pytest.mark.usefixtures("shop")
def test_it_starts_an_unversioned_watch_with_what_exists_and_ends_with_a_bookmark(apps: AppsV1Api) -> None:
    stream = watch.Watch().stream(
        apps.list_namespaced_deployment, "shop-prod", timeout_seconds=1, allow_watch_bookmarks=True
    )
    events = [(e["type"], e["raw_object"]["metadata"].get("name")) for e in stream]
    assert events == [("ADDED", "api"), ("ADDED", "web"), ("ADDED", "worker"), ("BOOKMARK", None)]


def test_it_expires_a_watch_from_a_resource_version_it_no_longer_keeps(kube: KubeStandIn, apps: AppsV1Api) -> None:
    kube.store.history = 10
    since = kube.resource_version("production")
    for tag in range(30):
        kube.apply("production", kube.deployment("web", "shop-prod", f"{WEB}:1.{tag}"))
    with pytest.raises(ApiException) as raised:
        list(
            watch.Watch().stream(
                apps.list_namespaced_deployment, "shop-prod", resource_version=since, timeout_seconds=1
            )
        )
    assert raised.value.status == 410
    assert raised.value.reason.startswith("Expired: too old resource version")


# -- the operator ------------------------------------------------------------------------------


def test_it_rolls_a_deployment_from_tag_a_to_b_through_two_replicasets(
    kube: KubeStandIn, apps: AppsV1Api, operator: Operator, git: dict[tuple[str, str], tuple[str, str]]
) -> None:
    (old,) = rollout_state(kube)
    git[("shop-prod", "web")] = (WEB, "1.1")
    operator.sync_now(settle=False)
    middle = rollout_state(kube)
    (new,) = set(middle) - {old}
    assert middle == {old: (1, f"{WEB}:1.0"), new: (1, f"{WEB}:1.1")}
    web = apps.read_namespaced_deployment("web", "shop-prod")
    assert (condition(web, "Progressing").reason, web.status.updated_replicas, web.status.replicas) == (
        "ReplicaSetUpdated",
        1,
        2,
    )

    operator.sync_now(settle=False)
    web = apps.read_namespaced_deployment("web", "shop-prod")
    assert rollout_state(kube) == {old: (0, f"{WEB}:1.0"), new: (2, f"{WEB}:1.1")}
    assert (condition(web, "Available").status, condition(web, "Progressing").reason) == (
        "True",
        "NewReplicaSetAvailable",
    )
    assert (web.status.available_replicas, web.status.observed_generation, web.metadata.generation) == (2, 2, 2)
    replicasets = apps.list_namespaced_replica_set(
        "shop-prod", label_selector=f"pod-template-hash={new.split('-')[-1]}"
    )
    assert [rs.metadata.owner_references[0].name for rs in replicasets.items] == ["web"]
    pods = (
        CoreV1Api(apps.api_client).list_namespaced_pod("shop-prod", label_selector="app.kubernetes.io/name=web").items
    )
    assert sorted(p.spec.containers[0].image for p in pods) == [f"{WEB}:1.1"] * 2
    assert [c.name for c in pods[0].spec.containers] == ["web", "proxy"]

    git[("shop-prod", "web")] = (WEB, "1.0")  # a rollback reuses the old ReplicaSet under a new revision
    operator.sync_now()
    assert rollout_state(kube) == {old: (2, f"{WEB}:1.0"), new: (0, f"{WEB}:1.1")}
    web = apps.read_namespaced_deployment("web", "shop-prod")
    assert web.metadata.annotations["deployment.kubernetes.io/revision"] == "3"


def test_it_waits_for_the_sync_interval_then_rolls_out_in_the_background(
    kube: KubeStandIn, apps: AppsV1Api, operator: Operator, git: dict[tuple[str, str], tuple[str, str]]
) -> None:
    operator.delay, operator.step = 0.4, 0.3
    operator.start(poll=0.02)
    git[("shop-prod", "web")] = (WEB, "2.0")
    time.sleep(0.2)
    assert apps.read_namespaced_deployment("web", "shop-prod").spec.template.spec.containers[0].image == f"{WEB}:1.0"
    eventually(lambda: sorted(replicas for replicas, _ in rollout_state(kube).values()) == [1, 1])
    web = eventually(lambda: (d := read_web(apps)).status.updated_replicas == 2 and d)
    assert condition(web, "Progressing").reason == "NewReplicaSetAvailable"
    assert web.spec.template.spec.containers[0].image == f"{WEB}:2.0"


def test_it_fails_a_rollout_with_crash_looping_pods_and_progress_deadline_exceeded(
    kube: KubeStandIn, apps: AppsV1Api, operator: Operator, git: dict[tuple[str, str], tuple[str, str]]
) -> None:
    operator.delay, operator.step, operator.deadline = 0.05, 0.05, 0.3
    operator.fail("production", "web")
    operator.start(poll=0.02)
    git[("shop-prod", "web")] = (WEB, "1.1")
    web = eventually(lambda: condition(d := read_web(apps), "Progressing").status == "False" and d)
    assert condition(web, "Progressing").reason == "ProgressDeadlineExceeded"
    assert condition(web, "Available").status == "True", "the old pods still serve"
    new_hash = condition(web, "Progressing").message.split('"')[1].split("-")[-1]
    core = CoreV1Api(apps.api_client)
    (crashing,) = core.list_namespaced_pod("shop-prod", label_selector=f"pod-template-hash={new_hash}").items
    app = crashing.status.container_statuses[0]
    assert (app.name, app.ready, app.state.waiting.reason) == ("web", False, "CrashLoopBackOff")
    assert app.restart_count >= 1
    assert app.last_state.terminated.exit_code == 1
    assert crashing.status.container_statuses[1].ready, "the proxy sidecar runs"
    assert sorted(rollout_state(kube).values()) == [(1, f"{WEB}:1.1"), (2, f"{WEB}:1.0")]

    operator.stop()
    git[("shop-prod", "web")] = (WEB, "1.2")
    operator.sync_now()
    web = apps.read_namespaced_deployment("web", "shop-prod")
    assert condition(web, "Progressing").reason == "NewReplicaSetAvailable", "fail() spoils one rollout only"
    assert sorted(rollout_state(kube).values()) == [(0, f"{WEB}:1.0"), (0, f"{WEB}:1.1"), (2, f"{WEB}:1.2")]


def test_it_keeps_operating_when_git_cannot_be_read(kube: KubeStandIn) -> None:
    def desired(cluster: str) -> dict[tuple[str, str], tuple[str, str]]:
        if cluster == "staging":
            raise OSError("git fetch failed")
        return {("shop", "web"): (WEB, "1.0")}

    Operator(kube, desired).sync_now()
    assert [d["metadata"]["namespace"] for d in kube.objects("dev", "Deployment")] == ["shop"]
    assert kube.objects("production", "Deployment", "shop")[0]["status"]["readyReplicas"] == 2
    assert kube.objects("staging", "Deployment") == []


# -- schemas and the command line ----------------------------------------------------------------


def test_it_serves_only_objects_that_validate_strictly(
    kube: KubeStandIn, apps: AppsV1Api, operator: Operator, git: dict[tuple[str, str], tuple[str, str]]
) -> None:
    kube.apply(
        "production",
        kube.statefulset("db", "shop-prod", "postgres:16.4", extra_containers=[("exporter", "prom/exporter:1")]),
    )
    kube.apply("production", kube.daemonset("agent", "kube-system", "datadog/agent:7.57.0"))
    git[("shop-prod", "api")] = ("ghcr.io/acme/api", "1.0")
    operator.sync_now()
    git[("shop-prod", "web")] = (WEB, "1.1")
    operator.fail("production", "web")
    operator.sync_now(settle=False)  # mid-rollout, crash-looping
    core = CoreV1Api(apps.api_client)
    collections = [
        (apps.list_deployment_for_all_namespaces, "Deployment"),
        (apps.list_replica_set_for_all_namespaces, "ReplicaSet"),
        (apps.list_stateful_set_for_all_namespaces, "StatefulSet"),
        (apps.list_daemon_set_for_all_namespaces, "DaemonSet"),
        (core.list_pod_for_all_namespaces, "Pod"),
        (core.list_namespace, "Namespace"),
    ]
    counts = {}
    for call, kind in collections:
        served = raw(call)
        counts[kind] = len(served["items"])
        for item in served["items"]:
            validate(item, kind, served["apiVersion"])
    assert counts == {"Deployment": 2, "ReplicaSet": 3, "StatefulSet": 1, "DaemonSet": 1, "Pod": 5, "Namespace": 5}
    validate(raw(apps.read_namespaced_deployment, "web", "shop-prod"))
    validate(raw(apps.read_namespaced_stateful_set, "db", "shop-prod"))
    validate(raw(core.read_namespace, "shop-prod"))


def test_it_runs_from_the_command_line_and_writes_the_kubeconfig(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    command = [sys.executable, "-m", "sandbox.kube", "--clusters", "dev,production", "--kubeconfig", str(path)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip() if proc.stdout else ""
        assert url.startswith("http://127.0.0.1:")
        api = config.new_client_from_config(config_file=str(path), context="dev")
        with api:
            assert "default" in names(CoreV1Api(api).list_namespace().items)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=5)
    assert proc.returncode == 0
