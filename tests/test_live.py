"""Live state through the real kubernetes client over HTTP, against the Kubernetes stand-in
(sandbox/kube) and its operator simulator rolling out what Git declares."""

import io
import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from promotions.catalogue.loader import catalog_load
from promotions.matrix.refresh import matrix_refresh
from promotions.models import LiveState, Promotion
from promotions.tasks import live_refresh_task
from promotions.workflow.execute import promotion_execute
from promotions.workflow.request import promotion_request
from promotions.workflow.rollout import live_refresh
from sandbox.demo_cluster import desired_from_git
from sandbox.kube import KubeStandIn, Operator
from sandbox.processes import free_port
from tests.builders import bind_clusters, kustomization

State = Promotion.State
CLUSTERS = ("staging", "production")


@pytest.fixture
def kube():
    with KubeStandIn(token="portal-token", clusters=CLUSTERS) as standin:
        yield standin


@pytest.fixture
def live_pipeline(pipeline, kube, tmp_path):
    """The pipeline of conftest, with staging and production bound to clusters in the stand-in."""
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig", clusters=list(CLUSTERS))
    text = bind_clusters(pipeline, kubeconfig, CLUSTERS)
    pipeline.write_text(text.replace("pull_request, approvals: 1", "pull_request, soak_seconds: 0, approvals: 1"))
    return pipeline


@pytest.fixture
def operator(live_pipeline, kube, tmp_path):
    op = Operator(kube, desired_from_git(catalog_load(live_pipeline), tmp_path / "operator"), delay=0, step=0)
    op.sync_now()
    return op


def refresh(path):
    return live_refresh(catalog=catalog_load(path))


def state(app: str, stage: str) -> LiveState:
    return LiveState.objects.get(application=app, stage=stage)


def promote_in_git(repo, path, stage: str, app: str, version: str) -> None:
    repo.commit(
        {f"{stage}/{app}/kustomization.yaml": kustomization(f"ghcr.io/acme/{app}", version)}, f"{app} {version}"
    )
    matrix_refresh(catalog=catalog_load(path))


def test_what_runs_matches_git_healthy_and_synced(live_pipeline, operator):
    refresh(live_pipeline)
    web = state("web", "production")
    assert (web.health, web.sync, web.versions, web.version, web.ready, web.desired) == (
        "Healthy",
        "Synced",
        ["1.0.0"],
        "1.0.0",
        2,
        2,
    )
    assert web.workload == "Deployment/web"
    assert web.namespace == "web"
    assert not LiveState.objects.filter(stage="dev").exists()  # no cluster: Git only


def test_a_half_done_rollout_shows_both_versions(live_pipeline, operator, repo, kube):
    promote_in_git(repo, live_pipeline, "staging", "web", "1.1.0")
    operator.sync_now(settle=False)  # one replica moved
    kube.clear_calls()
    refresh(live_pipeline)
    web = state("web", "staging")
    assert (web.health, web.sync, web.versions, web.version) == ("Progressing", "OutOfSync", ["1.1.0", "1.0.0"], None)
    staging = [c.path.rsplit("/", 1)[-1] for c in kube.calls if c.cluster == "staging"]
    assert staging == ["deployments", "statefulsets", "daemonsets", "replicasets", "pods"]  # a rollout: all of it
    assert web.reason.startswith("rolling out: ")
    operator.sync_now()
    refresh(live_pipeline)
    assert (state("web", "staging").health, state("web", "staging").sync) == ("Healthy", "Synced")


def test_a_failing_rollout_is_degraded_with_the_reason(live_pipeline, operator, repo):
    operator.fail("staging", "web")
    promote_in_git(repo, live_pipeline, "staging", "web", "1.1.0")
    operator.sync_now(settle=False)
    refresh(live_pipeline)
    web = state("web", "staging")
    assert web.health == "Degraded"
    assert "CrashLoopBackOff" in web.reason
    operator.sync_now()
    refresh(live_pipeline)
    assert state("web", "staging").reason.endswith("has timed out progressing.")  # the controller's words


def test_a_workload_git_declares_but_the_cluster_lacks_is_missing(live_pipeline, operator, kube):
    kube.delete("production", "Deployment", "api", "api")
    refresh(live_pipeline)
    api = state("api", "production")
    assert (api.health, api.sync) == ("Missing", "OutOfSync")
    assert api.reason == "no workload matching app.kubernetes.io/name=api in namespace api"


def test_workloads_are_found_by_name_and_the_app_container_is_read_past_sidecars(live_pipeline, operator, kube):
    live_pipeline.write_text(live_pipeline.read_text().replace(
        '    version: {kind: kustomize-image, image: "ghcr.io/acme/{app}"}',
        '    version: {kind: kustomize-image, image: "ghcr.io/acme/{app}"}\n    live: {kind: Deployment, name: "{app}"}',
    ))  # fmt: skip
    refresh(live_pipeline)
    assert state("web", "production").versions == ["1.0.0"]  # not the envoy sidecar's v1.31.2
    live_pipeline.write_text(live_pipeline.read_text().replace('name: "{app}"', 'name: "{app}-canary"'))
    refresh(live_pipeline)
    assert state("web", "production").reason == "no Deployment web-canary in namespace web"


def test_statefulsets_and_daemonsets_have_health_too(live_pipeline, kube, repo):
    kube.apply("production", KubeStandIn.statefulset("web", "web", "ghcr.io/acme/web:1.0.0", container="web",
                                                     labels={"app.kubernetes.io/name": "web"}))  # fmt: skip
    kube.apply("production", KubeStandIn.daemonset("api", "api", "ghcr.io/acme/api:2.0.0", container="api",
                                                   labels={"app.kubernetes.io/name": "api"}))  # fmt: skip
    refresh(live_pipeline)
    web, api = state("web", "production"), state("api", "production")
    assert (web.workload, web.versions, web.sync) == ("StatefulSet/web", ["1.0.0"], "Synced")
    assert (api.workload, api.versions, api.sync) == ("DaemonSet/api", ["2.0.0"], "Synced")
    assert (web.health, api.health) == ("Healthy", "Healthy")
    rolling = KubeStandIn.statefulset("web", "web", "ghcr.io/acme/web:1.1.0", container="web",
                                      labels={"app.kubernetes.io/name": "web"})  # fmt: skip
    rolling["status"] |= {"updatedReplicas": 1, "updateRevision": "web-new"}
    kube.apply("production", rolling)
    refresh(live_pipeline)
    web = state("web", "production")
    assert (web.health, web.sync, web.reason) == ("Progressing", "OutOfSync", "rolling out: 1/2 updated, 2/2 ready")


def test_a_cluster_that_rejects_the_credentials_is_unknown_with_the_reason(live_pipeline, operator, kube):
    kube.token = "rotated"
    report = refresh(live_pipeline)
    web = state("web", "production")
    assert (web.health, web.sync) == ("Unknown", "Unknown")
    assert web.reason == "unauthorized: production's cluster rejected the portal's credentials (context production)"
    assert {r.stage: r.error for r in report.stages}["production"] == web.reason


def test_namespaces_the_portal_may_not_read_are_forbidden_the_rest_still_read(live_pipeline, operator, kube):
    kube.allow("production", cluster_wide=False, namespaces=["api"])
    kube.clear_calls()
    refresh(live_pipeline)
    assert state("api", "production").health == "Healthy"
    web = state("web", "production")
    assert (web.health, web.reason) == (
        "Unknown",
        "forbidden: the portal's service account cannot list deployments in namespace web",
    )
    lists = [c for c in kube.calls if c.cluster == "production"]
    assert sum("/namespaces/" not in c.path for c in lists) == 3  # one refused cluster-wide try per workload kind
    kube.clear_calls()
    refresh(live_pipeline)  # the refusal is remembered: straight to the namespaces
    assert all("/namespaces/" in c.path for c in kube.calls if c.cluster == "production")


def test_an_unknown_cluster_404_a_timeout_and_an_unreachable_cluster_are_unknown(
    live_pipeline, operator, kube, tmp_path
):
    text = live_pipeline.read_text()
    live_pipeline.write_text(text.replace("context: production", "context: staging"))
    kube.inject("staging", path=r"deployments", delay=3, times=None)
    refresh(live_pipeline)
    assert state("web", "production").reason == f"timed out after 1s waiting for {kube.cluster_url('staging')}"
    kube.clear_faults()
    kube.inject("production", path=r".", status=404, times=None)
    live_pipeline.write_text(text)
    refresh(live_pipeline)
    assert state("web", "production").reason.startswith("the cluster answered 404 listing deployments")
    dead = kube.write_kubeconfig(tmp_path / "dead", clusters=list(CLUSTERS))
    dead.write_text(dead.read_text().replace(f":{kube.url.rsplit(':', 1)[1]}", f":{free_port()}"))
    live_pipeline.write_text(text.replace(str(tmp_path / "kubeconfig"), str(dead)))
    refresh(live_pipeline)
    assert state("web", "production").reason.startswith("cannot reach http://127.0.0.1:")


def test_the_number_of_list_calls_does_not_grow_with_the_number_of_applications(live_pipeline, operator, kube, repo):
    kube.clear_calls()
    refresh(live_pipeline)
    few = len(kube.calls)
    repo.commit({f"{stage}/extra-{n}/kustomization.yaml": kustomization(f"ghcr.io/acme/extra-{n}", "1.0.0")
                 for n in range(20) for stage in ("dev", "staging", "production")}, "20 more applications")  # fmt: skip
    matrix_refresh(catalog=catalog_load(live_pipeline))
    operator.sync_now()
    kube.clear_calls()
    refresh(live_pipeline)
    assert len(kube.calls) == few == 2 * 3  # 2 clusters x (deployments, statefulsets, daemonsets): all settled
    assert LiveState.objects.filter(health="Healthy").count() == 2 * 22


def test_a_promotion_is_followed_to_verified(live_pipeline, operator, repo):
    promotion = promotion_request(catalog=catalog_load(live_pipeline), applications=["web"], from_stage="dev",
                                  to_stage="staging")  # fmt: skip
    promotion_execute(promotion_id=promotion.pk)
    promotion.refresh_from_db()
    assert promotion.state == State.SYNCING  # Git has it; the cluster is read right away and does not yet
    operator.sync_now()
    refresh(live_pipeline)  # deployed; a soak of 0 s verifies at the next read
    refresh(live_pipeline)
    promotion.refresh_from_db()
    assert promotion.state == State.VERIFIED
    messages = [(e.state, e.message) for e in promotion.events.all()][2:]
    assert messages == [
        ("committed", f"committed {promotion.commit[:10]} to main"),
        ("syncing", "waiting for staging's cluster to run web 1.1.0 (runs 1.0.0)"),
        ("deployed", "staging runs web 1.1.0 on 2/2"),
        ("verified", "healthy in staging for 0s since deploying"),
    ]


def test_a_degraded_rollout_fails_the_promotion(live_pipeline, operator):
    operator.fail("staging", "web")
    promotion = promotion_request(catalog=catalog_load(live_pipeline), applications=["web"], from_stage="dev",
                                  to_stage="staging")  # fmt: skip
    promotion_execute(promotion_id=promotion.pk)
    operator.sync_now()
    refresh(live_pipeline)
    promotion.refresh_from_db()
    assert promotion.state == State.FAILED
    assert promotion.error.startswith("web 1.1.0 in staging is Degraded: ")


def test_a_rollout_that_never_happens_fails_at_the_deadline(live_pipeline, operator):
    live_pipeline.write_text(live_pipeline.read_text().replace("{mode: commit, soak_seconds: 0}}",
                                                               "{mode: commit, soak_seconds: 0, deploy_deadline_seconds: 1}}"))  # fmt: skip
    promotion = promotion_request(catalog=catalog_load(live_pipeline), applications=["web"], from_stage="dev",
                                  to_stage="staging")  # fmt: skip
    promotion_execute(promotion_id=promotion.pk)
    Promotion.objects.filter(pk=promotion.pk).update(landed_at="2000-01-01T00:00Z")
    refresh(live_pipeline)  # the operator never ran
    promotion.refresh_from_db()
    assert promotion.state == State.FAILED
    assert promotion.error == "not running in staging 1s after it landed: web (runs 1.0.0) (Healthy)"


def test_matrix_json_and_the_dashboard_show_live_state(live_pipeline, operator, kube, client, alice):
    refresh(live_pipeline)
    out = io.StringIO()
    call_command("matrix", "--json", stdout=out)
    web = next(a for a in json.loads(out.getvalue())["applications"] if a["name"] == "web")
    assert web["stages"]["dev"]["live"] is None
    live = web["stages"]["production"]["live"]
    assert {k: live[k] for k in ("version", "versions", "health", "sync", "ready", "desired", "reason")} == {
        "version": "1.0.0",
        "versions": ["1.0.0"],
        "health": "Healthy",
        "sync": "Synced",
        "ready": 2,
        "desired": 2,
        "reason": "",
    }
    kube.token = "rotated"
    client.force_login(alice)
    client.post(reverse("refresh-live"))
    live_refresh_task()  # what the worker does once the button queued it
    html = client.get(reverse("dashboard")).content.decode()
    assert 'class="live h-unknown s-unknown"' in html
    assert "unauthorized: production&#x27;s cluster rejected the portal&#x27;s credentials" in html


def test_refresh_live_prints_what_each_cluster_runs(live_pipeline, operator):
    out = io.StringIO()
    call_command("refresh_live", "--json", stdout=out)
    stages = {s["stage"]: s for s in json.loads(out.getvalue())["stages"]}
    assert set(stages) == {"staging", "production"}
    assert stages["production"]["calls"] == 3
    web = next(a for a in stages["production"]["applications"] if a["name"] == "web")
    assert {k: web[k] for k in ("namespace", "workload", "version", "health", "sync", "ready", "desired")} == {
        "namespace": "web",
        "workload": "Deployment/web",
        "version": "1.0.0",
        "health": "Healthy",
        "sync": "Synced",
        "ready": 2,
        "desired": 2,
    }
    out = io.StringIO()
    call_command("refresh_live", stdout=out)
    assert "production: 2 applications, 3 list calls" in out.getvalue()
    assert "  web                      Healthy      Synced     1.0.0" in out.getvalue()


def test_a_tls_error_is_unknown_with_the_reason(live_pipeline, operator, kube, tmp_path):
    tls = kube.write_kubeconfig(tmp_path / "tls", clusters=list(CLUSTERS))
    tls.write_text(tls.read_text().replace("http://127.0.0.1", "https://127.0.0.1"))  # a TLS client, a plain server
    live_pipeline.write_text(live_pipeline.read_text().replace(str(tmp_path / "kubeconfig"), str(tls)))
    refresh(live_pipeline)
    assert state("web", "production").reason.startswith("TLS error talking to https://127.0.0.1:")
    assert state("web", "production").health == "Unknown"


def test_a_settled_cluster_read_again_writes_only_the_time_and_the_page_stays_current(
    live_pipeline, operator, repo, client, alice
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    refresh(live_pipeline)
    before = {(s.application, s.stage): (s.pk, s.changed_at) for s in LiveState.objects.all()}
    client.force_login(alice)
    page = client.get(reverse("dashboard")).content.decode()
    version = page.split('name="v" value="', 1)[1].split('"', 1)[0]
    with CaptureQueriesContext(connection) as queries:
        refresh(live_pipeline)
    writes = [q["sql"].split()[0] for q in queries.captured_queries if "promotions_livestate" in q["sql"]
              and q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]  # fmt: skip
    assert writes == ["UPDATE", "UPDATE"]  # per stage, the time of the read; no row rewritten
    assert {(s.application, s.stage): (s.pk, s.changed_at) for s in LiveState.objects.all()} == before
    poll = client.get(reverse("dashboard"), {"v": version, "page": "1"}, headers={"HX-Request": "true"})
    assert poll.status_code == 204
    promote_in_git(repo, live_pipeline, "staging", "web", "1.1.0")
    operator.sync_now()
    refresh(live_pipeline)
    web = state("web", "staging")
    assert web.versions == ["1.1.0"]
    assert web.changed_at > before["web", "staging"][1]
    assert state("api", "staging").changed_at == before["api", "staging"][1]
    assert (
        client.get(reverse("dashboard"), {"v": version, "page": "1"}, headers={"HX-Request": "true"}).status_code == 200
    )
