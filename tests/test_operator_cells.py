"""What the stage's GitOps operator applied, per cell: Flux Kustomizations and HelmReleases and Argo
CD Applications served by the Kubernetes stand-in, read through the real kubernetes client, judged
against Git (the commit that last changed the cell, looked up in the revision the operator applied).

The repository is the pipeline of conftest (kustomize overlays `<stage>/<app>/kustomization.yaml`);
production runs Flux (one GitRepository for the repository, one Kustomization per stage folder, as
`flux bootstrap` + an `apps` Kustomization leave it), staging runs Argo CD (one Application per app).
"""

import io
import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from promotions.catalogue.loader import catalog_load
from promotions.matrix.refresh import matrix_refresh
from promotions.models import LiveState, RepositoryState, SourceStatus, StageVersion
from promotions.workflow.rollout import live_refresh
from sandbox.demo_cluster import desired_from_git
from sandbox.kube import KubeStandIn, Operator
from sandbox.kube import operator_objects as flux
from tests.builders import bind_clusters, flux_applied, kustomization, operator_clusters, with_operators

CLUSTERS = ("staging", "production")


@pytest.fixture
def kube():
    with operator_clusters(CLUSTERS, flux="production", argocd="staging") as standin:
        yield standin


@pytest.fixture
def gitops(pipeline, kube, tmp_path, repo):
    """The pipeline with production applied by Flux and staging by Argo CD, everything applied at HEAD."""
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig", clusters=list(CLUSTERS))
    text = bind_clusters(pipeline, kubeconfig, CLUSTERS).replace("pull_request, approvals: 1",
                                                                  "pull_request, soak_seconds: 0, approvals: 1")  # fmt: skip
    text = with_operators(text, {"production": "flux", "staging": "argocd"})
    pipeline.write_text(text)
    Operator(kube, desired_from_git(catalog_load(pipeline), tmp_path / "operator"), delay=0, step=0).sync_now()
    head = repo.head()
    flux_at(kube, repo, head)
    for app in ("web", "api"):
        kube.apply("staging", flux.application(f"{app}-staging", repo_url=repo.url, path=f"staging/{app}",
                                               revision=head))  # fmt: skip
    return pipeline


def flux_at(kube, repo, applied: str, **state) -> None:
    flux_applied(kube, "production", repo, applied, **state)


def refresh(path):
    return live_refresh(catalog=catalog_load(path))


def operator_of(app: str, stage: str) -> dict:
    return LiveState.objects.get(application=app, stage=stage).operator


def change_in_git(repo, path, stage: str, app: str, version: str) -> str:
    repo.commit(
        {f"{stage}/{app}/kustomization.yaml": kustomization(f"ghcr.io/acme/{app}", version)}, f"{app} {version}"
    )
    matrix_refresh(catalog=catalog_load(path))
    return repo.head()


def test_a_cell_applied_by_a_flux_kustomization_says_applied(gitops, repo):
    refresh(gitops)
    web = operator_of("web", "production")
    assert {k: web[k] for k in ("operator", "kind", "name", "namespace", "revision", "ready", "verdict", "summary")} == {
        "operator": "Flux", "kind": "Kustomization", "name": "apps", "namespace": "flux-system",
        "revision": repo.head(), "ready": True, "verdict": "applied", "summary": "applied",
    }  # fmt: skip
    assert web["reason"] == "ReconciliationSucceeded"
    assert web["change"] == StageVersion.objects.get(application="web", stage="production").commit
    assert LiveState.objects.get(application="web", stage="production").drift_since is None
    assert SourceStatus.objects.get(kind="operator", name="production").up


def test_a_change_flux_has_not_applied_yet_names_both_commits(gitops, repo):
    before = repo.head()
    change = change_in_git(repo, gitops, "production", "web", "1.1.0")
    refresh(gitops)
    web = operator_of("web", "production")
    assert web["verdict"] == "pending"
    assert web["summary"] == f"not yet applied: Flux has {before[:7]}, the change is {change[:7]}"
    assert operator_of("api", "production")["verdict"] == "applied"  # its last change is in Flux's revision
    drifting = LiveState.objects.get(application="web", stage="production").drift_since
    assert drifting is not None
    refresh(gitops)  # still not applied: the drift started at the first read, not this one
    assert LiveState.objects.get(application="web", stage="production").drift_since == drifting


def test_applied_once_flux_applies_the_change_and_drift_ends(gitops, repo, kube):
    change = change_in_git(repo, gitops, "production", "web", "1.1.0")
    Operator(kube, desired_from_git(catalog_load(gitops), repo.path.parent / "op2"), delay=0, step=0).sync_now()
    refresh(gitops)
    assert LiveState.objects.get(application="web", stage="production").drift_since is not None
    flux_at(kube, repo, change)
    refresh(gitops)
    web = LiveState.objects.get(application="web", stage="production")
    assert (web.operator["verdict"], web.operator["revision"], web.versions) == ("applied", change, ["1.1.0"])
    assert web.drift_since is None


def test_a_build_failure_is_the_cells_failure_with_flux_s_message(gitops, repo, kube):
    before = repo.head()
    change = change_in_git(repo, gitops, "production", "web", "1.1.0")
    message = (
        "kustomize build failed: accumulating resources: accumulation err='accumulating resources from "
        "'web': 'production/web/kustomization.yaml': yaml: line 4: mapping values are not allowed in this context'"
    )
    flux_at(kube, repo, before, attempted=change, ready=False, reason="BuildFailed", message=message)
    refresh(gitops)
    web = operator_of("web", "production")
    assert (web["verdict"], web["revision"], web["attempted"], web["ready"]) == ("failed", before, change, False)
    assert web["summary"] == f"failed: BuildFailed: {message}"
    assert operator_of("api", "production")["verdict"] == "applied"  # its change is in the last good revision


def test_waiting_on_a_dependency_is_not_a_failure(gitops, repo, kube):
    before = repo.head()
    change = change_in_git(repo, gitops, "production", "web", "1.1.0")
    flux_at(kube, repo, before, attempted=change, ready=False, reason="DependencyNotReady",
            message="dependency 'flux-system/infrastructure' is not ready")  # fmt: skip
    refresh(gitops)
    web = operator_of("web", "production")
    assert web["verdict"] == "pending"
    assert web["summary"].endswith("(DependencyNotReady: dependency 'flux-system/infrastructure' is not ready)")


def test_a_helm_release_shows_the_chart_range_and_the_version_it_resolved_to(gitops, repo, kube):
    kube.apply("production", flux.helm_release("web", "web", chart="web", version="1.2.x", installed="1.2.7"))
    refresh(gitops)
    helm = operator_of("web", "production")["helm"]
    assert helm == {"name": "web", "namespace": "web", "chart": "1.2.x", "resolved": "1.2.7", "ready": True,
                    "reason": "InstallSucceeded", "message": helm["message"]}  # fmt: skip
    assert "api" not in [k for k in operator_of("api", "production").get("helm", {})]
    failing = flux.helm_release("web", "web", chart="web", version="1.2.x", installed="1.2.7", ready=False,
                                reason="UpgradeFailed", message="Helm upgrade failed: timed out waiting for the condition")  # fmt: skip
    kube.apply("production", failing)
    refresh(gitops)
    web = operator_of("web", "production")
    assert web["verdict"] == "failed"
    assert web["summary"] == (
        "failed: HelmRelease web/web: UpgradeFailed: Helm upgrade failed: timed out waiting for the condition"
    )


def test_argo_cd_applications_applied_out_of_sync_and_failed(gitops, repo, kube):
    refresh(gitops)
    web = operator_of("web", "staging")
    assert (web["operator"], web["kind"], web["name"], web["namespace"]) == ("Argo CD", "Application", "web-staging",
                                                                             "argocd")  # fmt: skip
    assert (web["verdict"], web["revision"]) == ("applied", repo.head())
    before = repo.head()
    change = change_in_git(repo, gitops, "staging", "web", "1.1.0")
    kube.apply("staging", flux.application("web-staging", repo_url=repo.url, path="staging/web", revision=before))
    refresh(gitops)
    assert operator_of("web", "staging")["summary"] == (
        f"not yet applied: Argo CD has {before[:7]}, the change is {change[:7]}"
    )
    failing = flux.application(
        "web-staging",
        repo_url=repo.url,
        path="staging/web",
        revision=change,
        sync="OutOfSync",
        health="Healthy",
        conditions=[("ComparisonError", "failed to load target state: kustomize build staging/web failed")],
    )
    failing["status"]["operationState"]["syncResult"]["revision"] = before  # the last sync that went through
    kube.apply("staging", failing)
    refresh(gitops)
    web = operator_of("web", "staging")
    assert web["verdict"] == "failed"
    assert web["summary"] == "failed: ComparisonError: failed to load target state: kustomize build staging/web failed"


def test_no_object_applying_the_file_is_unknown_with_why(gitops, repo, kube):
    kube.delete("production", "Kustomization", "flux-system", "apps")
    refresh(gitops)
    web = operator_of("web", "production")
    assert web["verdict"] == "unknown"
    assert web["summary"] == f"no Flux Kustomization applies production/web/kustomization.yaml from {repo.url} main"


def test_the_deepest_path_wins_two_at_the_same_depth_are_ambiguous_until_named(gitops, repo, kube):
    head = repo.head()
    root = flux.kustomization("flux-system", path="./", revision=flux.flux_revision("main", "0" * 40))
    kube.apply("production", root)  # `flux bootstrap`'s own, at the root: less specific than ./production
    refresh(gitops)
    assert operator_of("web", "production")["name"] == "apps"
    twin = flux.kustomization("apps-twin", path="production", revision=flux.flux_revision("main", head))
    kube.apply("production", twin)
    refresh(gitops)
    web = operator_of("web", "production")
    assert web["verdict"] == "unknown"
    assert web["summary"] == (
        "ambiguous: flux-system/apps and flux-system/apps-twin all apply production/web/kustomization.yaml; "
        "name one in the application's live.operator"
    )
    gitops.write_text(gitops.read_text().replace(
        '    version: {kind: kustomize-image, image: "ghcr.io/acme/{app}"}',
        '    version: {kind: kustomize-image, image: "ghcr.io/acme/{app}"}\n'
        '    live: {operator: {kind: Kustomization, name: apps-twin}}',
    ))  # fmt: skip
    refresh(gitops)
    assert (operator_of("web", "production")["name"], operator_of("web", "production")["verdict"]) == (
        "apps-twin", "applied"
    )  # fmt: skip


def test_a_named_object_that_does_not_exist_says_so(gitops):
    gitops.write_text(gitops.read_text().replace(
        '    version: {kind: kustomize-image, image: "ghcr.io/acme/{app}"}',
        '    version: {kind: kustomize-image, image: "ghcr.io/acme/{app}"}\n'
        '    live: {operator: {kind: Kustomization, name: "{app}-{stage}"}}',
    ))  # fmt: skip
    refresh(gitops)
    assert operator_of("web", "production")["summary"] == (
        "Kustomization flux-system/web-production (named in the catalogue) does not exist in the cluster"
    )


def test_a_git_repository_flux_cannot_fetch_is_the_operator_s_outage(gitops, repo, kube):
    broken = flux.git_repository("flux-system", repo.url, sha=repo.head())
    broken["status"]["conditions"] = [flux.flux_condition(
        "Ready", False, "GitOperationFailed", "failed to checkout and determine revision: unable to clone: 503"
    )]  # fmt: skip
    kube.apply("production", broken)
    refresh(gitops)
    source = SourceStatus.objects.get(kind="operator", name="production")
    assert not source.up
    assert source.reason == (
        "GitRepository flux-system/flux-system: GitOperationFailed: "
        "failed to checkout and determine revision: unable to clone: 503"
    )
    assert SourceStatus.objects.get(kind="cluster", name="production").up


def test_a_cluster_without_flux_says_so_in_every_cell(gitops, tmp_path, repo):
    with KubeStandIn(token="portal-token", clusters=CLUSTERS) as bare:  # no CRDs installed
        kubeconfig = bare.write_kubeconfig(tmp_path / "bare", clusters=list(CLUSTERS))
        gitops.write_text(gitops.read_text().replace(str(tmp_path / "kubeconfig"), str(kubeconfig)))
        refresh(gitops)
    assert operator_of("web", "production")["summary"] == "unknown: Flux is not installed in this cluster"
    assert operator_of("web", "staging")["summary"] == "unknown: Argo CD is not installed in this cluster"
    assert (
        SourceStatus.objects.get(kind="operator", name="production").reason == "Flux is not installed in this cluster"
    )


def test_an_unreachable_cluster_is_one_outage_not_two(gitops, kube):
    refresh(gitops)
    kube.token = "rotated"
    refresh(gitops)
    assert not SourceStatus.objects.get(kind="cluster", name="production").up
    assert SourceStatus.objects.get(kind="operator", name="production").up  # as last seen: not a second alert
    assert operator_of("web", "production")["verdict"] == "unknown"


def test_a_revision_the_portal_has_not_read_is_unknown_not_wrong(gitops, repo, kube):
    flux_at(kube, repo, "f" * 40)
    refresh(gitops)
    assert operator_of("web", "production")["summary"] == "Flux has fffffff, a commit the portal has not read (yet)"


def test_the_operator_costs_one_list_call_per_kind_however_many_applications(gitops, repo, kube):
    kube.clear_calls()
    refresh(gitops)
    few = len(kube.calls)
    repo.commit({f"{stage}/extra-{n}/kustomization.yaml": kustomization(f"ghcr.io/acme/extra-{n}", "1.0.0")
                 for n in range(30) for stage in ("dev", "staging", "production")}, "30 more applications")  # fmt: skip
    matrix_refresh(catalog=catalog_load(gitops))
    flux_at(kube, repo, repo.head())
    kube.clear_calls()
    refresh(gitops)
    assert len(kube.calls) == few == 2 * 3 + 3 + 1  # settled workloads x 2 clusters; Flux: 3 kinds; Argo CD: 1
    assert LiveState.objects.filter(stage="production", operator__verdict="applied").count() == 32


def test_matrix_json_the_api_and_the_dashboard_show_the_operator(gitops, repo, kube, client, alice):
    before = repo.head()
    change = change_in_git(repo, gitops, "production", "web", "1.1.0")
    flux_at(kube, repo, before, attempted=change, ready=False, reason="BuildFailed", message="kustomize build failed")
    refresh(gitops)
    out = io.StringIO()
    call_command("matrix", "--json", stdout=out)
    web = next(a for a in json.loads(out.getvalue())["applications"] if a["name"] == "web")
    assert web["stages"]["dev"]["live"] is None
    operator = web["stages"]["production"]["live"]["operator"]
    assert {k: operator[k] for k in ("kind", "name", "namespace", "revision", "ready", "reason", "message")} == {
        "kind": "Kustomization", "name": "apps", "namespace": "flux-system", "revision": before, "ready": False,
        "reason": "BuildFailed", "message": "kustomize build failed",
    }  # fmt: skip
    assert operator["observed_at"]
    client.force_login(alice)
    api = client.get("/api/v1/matrix").json()
    cell = next(a for a in api["applications"] if a["name"] == "web")["stages"]["production"]
    assert cell["live"]["operator"] == operator
    html = client.get(reverse("dashboard")).content.decode()
    assert "failed: BuildFailed: kustomize build failed" in html
    assert RepositoryState.objects.get().commit == change


def test_an_operator_message_is_one_line_of_text_wherever_it_shows(gitops, repo, kube, client, alice):
    """The status of a cluster object is written by whoever can write to the cluster: a message with
    line breaks, markup or a forged trailer stays one line of text in the cell, the page and the API."""
    before = repo.head()
    change = change_in_git(repo, gitops, "production", "web", "1.1.0")
    hostile = "kustomize build failed\n<script>alert(1)</script>\r\nPromotion-Id: 999\u2028done"
    flux_at(kube, repo, before, attempted=change, ready=False, reason="BuildFailed", message=hostile)
    refresh(gitops)
    web = operator_of("web", "production")
    assert web["message"] == "kustomize build failed <script>alert(1)</script> Promotion-Id: 999 done"
    assert "\n" not in web["summary"]
    client.force_login(alice)
    html = client.get(reverse("dashboard")).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_tenant_kustomization_applying_from_the_flux_system_source_is_found(gitops, repo, kube):
    """Multi-tenant Flux: the tenant's Kustomization lives in its own namespace and names the shared
    GitRepository in flux-system; a GitRepository of the same name in the tenant's namespace that
    fetches another repository must not be taken for it."""
    kube.delete("production", "Kustomization", "flux-system", "apps")
    kube.apply("production", flux.git_repository("flux-system", "https://git.example.com/other/repo.git",
                                                 sha="0" * 40, namespace="team-web"))  # fmt: skip
    tenant = flux.kustomization("web", path="./production/web", revision=flux.flux_revision("main", repo.head()),
                                namespace="team-web")  # fmt: skip
    tenant["spec"]["sourceRef"]["namespace"] = "flux-system"
    kube.apply("production", tenant)
    decoy = flux.kustomization(
        "api", path="./production/api", revision=flux.flux_revision("main", repo.head()), namespace="team-web"
    )  # fmt: skip (its sourceRef: team-web/flux-system, another repo)
    kube.apply("production", decoy)
    refresh(gitops)
    web = operator_of("web", "production")
    assert (web["namespace"], web["name"], web["verdict"]) == ("team-web", "web", "applied")
    assert operator_of("api", "production")["verdict"] == "unknown"  # applied from another repository
