"""`manage.py demo`: a believable repository in every layout, idempotent, with three users; and
`demo_clusters`: each stage's operator (Flux polling, Flux with a receiver, Argo CD with a webhook)."""

import hashlib
import hmac
import io
import json
import re
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import RequestFactory
from django.urls import reverse

from promotions.catalogue.loader import catalog_load
from promotions.cluster import operators
from promotions.models import LiveState, StageVersion
from promotions.workflow.rollout import live_refresh
from sandbox.demo import CRASH_LOOPING, kustomization, receivers_env_read, receivers_env_write
from sandbox.demo_cluster import DemoClusters, start_demo_clusters
from sandbox.gitrepo import RepoBuilder
from sandbox.kube.flux import GitSource, deployment_health
from sandbox.processes import free_port


def test_the_demo_builds_a_repository_catalogue_and_users_and_is_idempotent(db, data_dir, settings):
    out = io.StringIO()
    call_command("demo", stdout=out)
    config = data_dir / "demo" / "gitops-portal.yaml"
    head = RepoBuilder(data_dir / "demo" / "platform.git").head()
    call_command("demo", stdout=io.StringIO())
    assert RepoBuilder(data_dir / "demo" / "platform.git").head() == head  # not rebuilt

    catalog = catalog_load(config)
    assert catalog.stage_names == ["dev", "staging", "production"]
    defaults = catalog.applications.defaults
    kinds = {(item.version or defaults.version).kind for item in catalog.applications.items}
    kinds.add(defaults.version.kind)
    assert kinds == {"kustomize-image", "helm-values", "helmrelease-chart", "image", "yaml-path"}

    cells = list(StageVersion.objects.all())
    assert len({c.application for c in cells}) == 8
    assert [c for c in cells if c.error] == []
    assert len({c.author for c in cells if c.author}) >= 3
    assert any(c.path is None for c in cells)  # an application not yet in production
    printed = dict(re.findall(r"^\s+(\w+)\s+/\s+(\S+)", out.getvalue(), re.MULTILINE))
    assert sorted(printed) == ["admin", "alice", "bob", "carol"]
    for username, password in printed.items():
        assert authenticate(RequestFactory().post("/login/"), username=username, password=password) is not None


def test_the_demo_matrix_shows_a_promotion_backlog(db, data_dir, settings):
    call_command("demo", stdout=io.StringIO())
    settings.GITOPS_PORTAL_CONFIG = data_dir / "demo" / "gitops-portal.yaml"
    out = io.StringIO()
    call_command("matrix", "--json", stdout=out)
    document = json.loads(out.getvalue())
    behind = [
        app["name"]
        for app in document["applications"]
        if len({cell["version"] for cell in app["stages"].values() if cell["version"]}) > 1
    ]
    assert len(behind) >= 2


def test_the_demo_clusters_run_what_their_operators_applied(db, data_dir, settings):
    call_command("demo", stdout=io.StringIO())
    catalog = catalog_load(data_dir / "demo" / "gitops-portal.yaml")
    with demo_clusters(catalog, data_dir):
        report = live_refresh(catalog=catalog)
    assert [r.error for r in report.stages] == ["", "", ""]
    states = {(s.application, s.stage): s for s in LiveState.objects.all()}
    assert len(states) == StageVersion.objects.filter(path__isnull=False).count()
    assert {cell for cell, s in states.items() if s.health != "Healthy"} == set(CRASH_LOOPING_CELLS)
    behind = {cell for cell, s in states.items() if s.sync == "OutOfSync"}
    assert behind == {("web", "dev"), ("checkout", "dev")}, "not polled yet; a build that fails"
    assert {s.sync for cell, s in states.items() if cell not in behind and cell[0] != "cert-manager"} == {"Synced"}
    assert {s.sync for (app, _), s in states.items() if app == "cert-manager"} == {"Unknown"}  # a chart version
    verdicts = {cell: s.operator["verdict"] for cell, s in states.items()}
    assert verdicts.pop(("web", "dev")) == "pending"
    assert verdicts.pop(("checkout", "dev")) == "failed"
    assert set(verdicts.values()) == {"applied"}
    assert states["web", "dev"].operator["summary"].startswith("not yet applied: Flux has ")
    assert "'dev/checkout/feature-flags.yaml': yaml: line 9" in states["checkout", "dev"].operator["message"]


def test_the_dashboard_shows_a_degraded_cell_a_failed_build_and_the_replicas_the_manifests_declare(
    db, data_dir, settings, client
):
    call_command("demo", stdout=io.StringIO())
    settings.GITOPS_PORTAL_CONFIG = data_dir / "demo" / "gitops-portal.yaml"
    catalog = catalog_load(settings.GITOPS_PORTAL_CONFIG)
    repo = RepoBuilder(data_dir / "demo" / "platform.git")
    with demo_clusters(catalog, data_dir):  # its first pass: what the clusters ran before, then what broke
        live_refresh(catalog=catalog)
    client.force_login(User.objects.get(username="alice"))  # as the demo left her
    html = client.get(reverse("dashboard")).content.decode()

    states = {(s.application, s.stage): s for s in LiveState.objects.all()}
    declared = {(c.application, c.stage): int(re.search(r"(?:replicas|count|replicaCount): (\d+)", repo.read(c.path))[1])
                for c in StageVersion.objects.filter(path__isnull=False)}  # fmt: skip
    assert {cell: s.desired for cell, s in states.items()} == declared
    assert 3 in declared.values()
    billing = states["billing", "production"]
    running = StageVersion.objects.get(application="billing", stage="production").version
    assert (billing.health, billing.ready, billing.desired, billing.versions) == ("Degraded", 1, 3, [running])
    assert re.fullmatch(r"pod billing-\w+-\w+ is failing \(CrashLoopBackOff, 1 restarts\)", billing.reason)
    assert {"Degraded", "1/3", "CrashLoopBackOff"} <= words(row(html, "billing"))
    assert "failed: BuildFailed: kustomize build failed" in row(html, "checkout")


def test_the_demo_shows_a_change_not_yet_applied_a_failed_build_and_applied_ones(db, data_dir, settings):
    call_command("demo", stdout=io.StringIO())
    catalog = catalog_load(data_dir / "demo" / "gitops-portal.yaml")
    repo = RepoBuilder(data_dir / "demo" / "platform.git")
    head, before = repo.head(), GitSource(repo.url).resolve("main^")
    with demo_clusters(catalog, data_dir) as clusters:
        kube = clusters.kube
        web = kube.get("dev", "Kustomization", "flux-system", "web")["status"]
        checkout = kube.get("dev", "Kustomization", "flux-system", "checkout")["status"]
        staging = kube.get("staging", "Kustomization", "flux-system", "web")["status"]
        production = kube.get("production", "Application", "argocd", "web")["status"]
        running = image(kube, "dev", "web")

    assert web["lastAppliedRevision"] == f"main@sha1:{before}", "dev's Flux fetched before web 1.5.0 landed"
    assert running != "ghcr.io/acme/web:1.5.0"
    ready = next(c for c in checkout["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "BuildFailed")
    assert "'dev/checkout/feature-flags.yaml': yaml: line 9:" in ready["message"]
    assert checkout["lastAttemptedRevision"] == f"main@sha1:{before}"
    assert checkout["lastAppliedRevision"] != checkout["lastAttemptedRevision"]
    assert staging["lastAppliedRevision"] == f"main@sha1:{head}"
    assert (production["sync"]["status"], production["sync"]["revision"]) == ("Synced", head)


def test_every_demo_cell_is_applied_by_one_operator_object_as_the_portal_matches_them(db, data_dir, settings):
    call_command("demo", stdout=io.StringIO())
    catalog = catalog_load(data_dir / "demo" / "gitops-portal.yaml")
    repository = catalog.repositories[0]
    cells = StageVersion.objects.filter(path__isnull=False)
    with demo_clusters(catalog, data_dir) as clusters:
        listed = {
            (stage, kind): clusters.kube.objects(stage, kind)
            for stage in catalog.stage_names
            for kind in ("Kustomization", "GitRepository", "Application")
            if kind in KINDS[catalog.stage(stage).operator.kind]
        }
    for cell in cells:
        where = {"file": cell.path, "repo_url": repository.url, "branch": repository.branch}
        if catalog.stage(cell.stage).operator.kind == "flux":
            kustomizations, sources = listed[cell.stage, "Kustomization"], listed[cell.stage, "GitRepository"]
            found = operators.flux_kustomizations_for(kustomizations, sources, **where)
        else:
            found = operators.argo_applications_for(listed[cell.stage, "Application"], **where)
        assert len(found) == 1, (cell.application, cell.stage, cell.path)


def test_the_staging_receiver_and_the_production_webhook_sync_at_once(db, data_dir, settings):
    call_command("demo", stdout=io.StringIO())
    catalog = catalog_load(data_dir / "demo" / "gitops-portal.yaml")
    repo = RepoBuilder(data_dir / "demo" / "platform.git")
    environ = receivers_env_read(receivers_env_write(data_dir / "receivers.env", port=free_port()))
    with demo_clusters(catalog, data_dir, environ=environ) as clusters:
        assert clusters.receivers["staging"].flux_url == environ["DEMO_STAGING_RECEIVER_URL"]
        assert clusters.receivers["production"].argo_url == environ["DEMO_PRODUCTION_WEBHOOK_URL"]
        repo.commit({"staging/api/kustomization.yaml": kustomization("api", "staging", "2.9.9", 2)}, "Promote api")
        body = json.dumps({"revision": repo.head()}).encode()
        post(environ["DEMO_STAGING_RECEIVER_URL"], body, {"X-Signature": sign(environ, "STAGING_RECEIVER", body)})
        eventually(lambda: image(clusters.kube, "staging", "api") == "ghcr.io/acme/api:2.9.9")

        repo.commit({"production/web/kustomization.yaml": kustomization("web", "production", "1.9.9", 2)}, "Merge")
        body = json.dumps({"ref": "refs/heads/main", "after": repo.head()}).encode()
        signed = {"X-GitHub-Event": "push", "X-Hub-Signature-256": sign(environ, "PRODUCTION_WEBHOOK", body)}
        post(environ["DEMO_PRODUCTION_WEBHOOK_URL"], body, signed)
        eventually(lambda: image(clusters.kube, "production", "web") == "ghcr.io/acme/web:1.9.9")
        application = clusters.kube.get("production", "Application", "argocd", "web")["status"]
        dev = clusters.operator.controllers["dev"]
    assert (application["sync"]["status"], application["sync"]["revision"]) == ("Synced", repo.head())
    assert dev.hooks == 0, "dev has no receiver: it waits for its poll"
    assert dev.fetched != repo.head()


def test_the_demo_clusters_follow_a_replica_count_changed_in_git(db, data_dir, settings):
    call_command("demo", stdout=io.StringIO())
    catalog = catalog_load(data_dir / "demo" / "gitops-portal.yaml")
    repo = RepoBuilder(data_dir / "demo" / "platform.git")
    environ = receivers_env_read(receivers_env_write(data_dir / "receivers.env", port=free_port()))
    with demo_clusters(catalog, data_dir, environ=environ) as clusters:

        def land(replicas: int) -> None:
            files = {"staging/api/kustomization.yaml": kustomization("api", "staging", "2.9.9", replicas)}
            body = json.dumps({"revision": repo.commit(files, f"api: {replicas} replicas")}).encode()
            post(environ["DEMO_STAGING_RECEIVER_URL"], body, {"X-Signature": sign(environ, "STAGING_RECEIVER", body)})

        def ready() -> tuple[int, int]:
            deployment = clusters.kube.get("staging", "Deployment", "api", "api")
            return deployment["spec"]["replicas"], deployment["status"].get("readyReplicas", 0)

        land(4)  # with a new version: the rollout heads for 4
        eventually(lambda: ready() == (4, 4) and image(clusters.kube, "staging", "api") == "ghcr.io/acme/api:2.9.9")
        land(1)  # the count alone
        eventually(lambda: ready() == (1, 1))


def test_a_new_release_rolling_out_replaces_the_crash_looping_pods(db, data_dir, settings):
    call_command("demo", stdout=io.StringIO())
    catalog = catalog_load(data_dir / "demo" / "gitops-portal.yaml")
    repo = RepoBuilder(data_dir / "demo" / "platform.git")
    environ = receivers_env_read(receivers_env_write(data_dir / "receivers.env", port=free_port()))
    path = "apps/billing/production/values.yaml"
    running = re.search(r'tag: "(.+)"', repo.read(path))[1]  # type: ignore[index]
    with demo_clusters(catalog, data_dir, environ=environ) as clusters:

        def billing() -> dict:
            return clusters.kube.get("production", "Deployment", "billing", "billing")

        # What Argo CD says of it until the progress deadline: 1 of 3 available.
        assert deployment_health(billing(), ("ghcr.io/acme/billing", running)) == "Progressing"
        repo.commit({path: repo.read(path).replace(running, "9.9.9")}, "Merge: billing 9.9.9 to production")
        body = json.dumps({"ref": "refs/heads/main", "after": repo.head()}).encode()
        signed = {"X-GitHub-Event": "push", "X-Hub-Signature-256": sign(environ, "PRODUCTION_WEBHOOK", body)}
        post(environ["DEMO_PRODUCTION_WEBHOOK_URL"], body, signed)
        eventually(lambda: deployment_health(billing(), ("ghcr.io/acme/billing", "9.9.9")) == "Healthy")
        assert billing()["status"]["readyReplicas"] == 3


def test_the_demo_keeps_its_receivers_settings(data_dir):
    first = receivers_env_read(receivers_env_write(data_dir / "receivers.env", port=8002))
    assert receivers_env_read(receivers_env_write(data_dir / "receivers.env", port=9000)) == first
    assert first["DEMO_STAGING_RECEIVER_URL"].startswith("http://127.0.0.1:8002/hook/")
    assert first["DEMO_PRODUCTION_WEBHOOK_URL"] == "http://127.0.0.1:8003/api/webhook"
    assert len(first["DEMO_STAGING_RECEIVER_SECRET"]) == 32


# -- helpers -----------------------------------------------------------------------------------


KINDS = {"flux": ("Kustomization", "GitRepository"), "argocd": ("Application",)}
CRASH_LOOPING_CELLS = [(app, stage) for stage, app in CRASH_LOOPING]


@contextmanager
def demo_clusters(catalog, data_dir: Path, environ: dict[str, str] | None = None) -> Iterator[DemoClusters]:  # type: ignore[no-untyped-def]
    kubeconfig = Path(catalog.kubeconfig_path("dev"))
    clusters = start_demo_clusters(catalog=catalog, data_dir=data_dir / "operator", kubeconfig=kubeconfig, port=0,
                                   step=0.01, poll=0.05, environ=environ or {})  # fmt: skip
    try:
        yield clusters
    finally:
        clusters.stop()


def row(html: str, app: str) -> str:
    """The dashboard's row of one application."""
    return next(tr for tr in html.split("<tr") if f'href="/apps/{app}/"' in tr)


def words(html: str) -> set[str]:
    return set(re.findall(r"[\w/]+", html))


def image(kube, cluster: str, app: str) -> str:  # type: ignore[no-untyped-def]
    deployment = kube.get(cluster, "Deployment", app, app)
    return deployment["spec"]["template"]["spec"]["containers"][0]["image"]


def sign(environ: dict[str, str], name: str, body: bytes) -> str:
    return "sha256=" + hmac.new(environ[f"DEMO_{name}_SECRET"].encode(), body, hashlib.sha256).hexdigest()


def post(url: str, body: bytes, headers: dict[str, str]) -> None:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **headers})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def eventually(check, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
