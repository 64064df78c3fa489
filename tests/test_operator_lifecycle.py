"""A promotion followed through the stage's GitOps operator: `syncing` waits for Flux (or Argo CD) to
apply a revision containing the promotion's commit, and fails at once, with the operator's message,
when the operator fails on such a revision — not at the deploy deadline.

Staging (commit mode, soak 0) runs Flux with one `apps` Kustomization for ./staging; production
(pull requests) runs Argo CD. The workloads are rolled out by the stand-in's simulator from Git's
HEAD, so they run the new version before the operator says it applied it: only the operator's word
may move the promotion.
"""

import pytest

from promotions.catalogue.loader import catalog_load
from promotions.matrix.refresh import matrix_refresh
from promotions.models import AuditEvent, Promotion
from promotions.workflow.execute import promotion_execute
from promotions.workflow.request import promotion_request
from promotions.workflow.rollout import live_refresh
from sandbox.demo_cluster import desired_from_git
from sandbox.kube import Operator
from sandbox.kube import operator_objects as objects
from tests.builders import bind_clusters, flux_applied, operator_clusters, with_operators

State = Promotion.State
CLUSTERS = ("staging", "production")


@pytest.fixture
def kube():
    with operator_clusters(CLUSTERS, flux="staging", argocd="production") as standin:
        yield standin


@pytest.fixture
def gitops(pipeline, kube, tmp_path, repo):
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig", clusters=list(CLUSTERS))
    text = bind_clusters(pipeline, kubeconfig, CLUSTERS)
    text = with_operators(text, {"staging": "flux", "production": "argocd"})
    pipeline.write_text(text)
    flux_at(kube, repo, repo.head())
    return pipeline


@pytest.fixture
def workloads(gitops, kube, tmp_path):
    operator = Operator(kube, desired_from_git(catalog_load(gitops), tmp_path / "operator"), delay=0, step=0)
    operator.sync_now()
    return operator


def flux_at(kube, repo, applied: str, **state) -> None:
    flux_applied(kube, "staging", repo, applied, **state)


def promote_web(path) -> Promotion:
    promotion = promotion_request(catalog=catalog_load(path), applications=["web"], from_stage="dev",
                                  to_stage="staging")  # fmt: skip
    promotion_execute(promotion_id=promotion.pk)
    promotion.refresh_from_db()
    return promotion


def refresh(path) -> None:
    live_refresh(catalog=catalog_load(path))


def test_verified_only_after_flux_applied_a_revision_containing_the_commit(gitops, workloads, kube, repo):
    before = repo.head()
    promotion = promote_web(gitops)
    assert promotion.state == State.SYNCING
    workloads.sync_now()  # the cluster runs 1.1.0 already (the simulator follows HEAD)…
    refresh(gitops)
    refresh(gitops)
    promotion.refresh_from_db()
    assert (promotion.state, promotion.applied_at) == (State.SYNCING, None)  # …but Flux has not applied it
    repo.commit({"README.md": "unrelated\n"}, "Docs")  # Flux applies a later commit: it contains ours
    matrix_refresh(catalog=catalog_load(gitops))  # (the portal has read it too)
    flux_at(kube, repo, repo.head())
    assert repo.head() != promotion.commit
    assert before != promotion.commit
    refresh(gitops)  # applied and deployed; a soak of 0 s verifies at the next read
    refresh(gitops)
    promotion.refresh_from_db()
    assert promotion.state == State.VERIFIED
    assert promotion.applied_at is not None
    assert promotion.applied_at <= promotion.deployed_at
    applied = AuditEvent.objects.get(promotion=promotion, action="promotion.applied")
    assert applied.message == f"Flux applied a revision containing the change: web at {repo.head()[:7]}"
    states = [e.state for e in promotion.events.all()]
    assert states[-4:] == ["syncing", "applied", "deployed", "verified"]


def test_a_kustomization_build_failure_fails_the_promotion_at_once(gitops, workloads, kube, repo):
    before = repo.head()
    promotion = promote_web(gitops)
    message = (
        "kustomize build failed: accumulating resources: accumulation err='accumulating resources from "
        "'web': 'staging/web/kustomization.yaml': yaml: line 7: did not find expected key'"
    )
    flux_at(kube, repo, before, attempted=promotion.commit, ready=False, reason="BuildFailed", message=message)
    refresh(gitops)
    promotion.refresh_from_db()
    assert (promotion.state, promotion.failure_cause) == (State.FAILED, "operator")
    assert promotion.error == (
        f"Flux could not apply web in staging: Kustomization flux-system/apps: BuildFailed: {message}"
    )
    assert promotion.landed_at is not None  # long before any deadline (30 min by default)
    assert [e.state for e in promotion.events.all()][-1] == "failed"


def test_a_failure_on_an_older_revision_is_not_this_promotion_s(gitops, workloads, kube, repo):
    before = repo.head()
    flux_at(kube, repo, before, ready=False, reason="ReconciliationFailed", message="Deployment/api dry-run failed")
    promotion = promote_web(gitops)
    refresh(gitops)
    promotion.refresh_from_db()
    assert promotion.state == State.SYNCING  # Flux has not even fetched the commit yet: wait
    flux_at(kube, repo, promotion.commit)
    workloads.sync_now()
    refresh(gitops)
    promotion.refresh_from_db()
    assert promotion.state == State.DEPLOYED


def test_a_helm_upgrade_failure_after_flux_applied_fails_the_promotion(gitops, workloads, kube, repo):
    promotion = promote_web(gitops)
    flux_at(kube, repo, promotion.commit)
    kube.apply("staging", objects.helm_release(
        "web", "web", chart="web", version="1.x", installed="1.4.0", ready=False, reason="UpgradeFailed",
        message="Helm upgrade failed for release web/web with chart web@1.4.0: context deadline exceeded",
    ))  # fmt: skip
    refresh(gitops)
    promotion.refresh_from_db()
    assert (promotion.state, promotion.failure_cause) == (State.FAILED, "operator")
    assert promotion.error == (
        "Flux could not apply web in staging: HelmRelease web/web: UpgradeFailed: "
        "Helm upgrade failed for release web/web with chart web@1.4.0: context deadline exceeded"
    )


def test_the_deadline_names_what_flux_had_applied(gitops, workloads, kube, repo):
    gitops.write_text(gitops.read_text().replace("{mode: commit, soak_seconds: 0}}",
                                                 "{mode: commit, soak_seconds: 0, deploy_deadline_seconds: 1}}"))  # fmt: skip
    before = repo.head()
    promotion = promote_web(gitops)
    Promotion.objects.filter(pk=promotion.pk).update(landed_at="2000-01-01T00:00Z")
    refresh(gitops)
    promotion.refresh_from_db()
    assert (promotion.state, promotion.failure_cause) == (State.FAILED, "deadline")
    assert promotion.error.endswith(
        f"Flux had not applied it: not yet applied: Flux has {before[:7]}, the change is {promotion.commit[:7]}"
    )


def test_an_argo_cd_sync_failure_on_the_commit_fails_the_promotion(gitops, workloads, kube, repo):
    gitops.write_text(gitops.read_text().replace("pull_request, approvals: 1, approvers: [release-managers]",
                                                 "commit, soak_seconds: 0, from: [dev]"))  # fmt: skip
    kube.apply("production", objects.application("web-production", repo_url=repo.url, path="production/web",
                                                 revision=repo.head()))  # fmt: skip
    promotion = promotion_request(catalog=catalog_load(gitops), applications=["web"], from_stage="dev",
                                  to_stage="production")  # fmt: skip
    promotion_execute(promotion_id=promotion.pk)
    promotion.refresh_from_db()
    failing = objects.application(
        "web-production",
        repo_url=repo.url,
        path="production/web",
        revision=promotion.commit,
        sync="OutOfSync",
        health="Healthy",
        phase="Failed",
        message='one or more objects failed to apply, reason: Deployment.apps "web" is invalid',
    )
    kube.apply("production", failing)
    refresh(gitops)
    promotion.refresh_from_db()
    assert (promotion.state, promotion.failure_cause) == (State.FAILED, "operator")
    assert promotion.error == (
        "Argo CD could not apply web in production: Application argocd/web-production: SyncFailed: "
        'one or more objects failed to apply, reason: Deployment.apps "web" is invalid'
    )
