"""Promotions into a GitHub repository: PyGithub over real HTTP against the GitHub stand-in
(sandbox/github), real git underneath, faults injected on the wire."""

import time

import pytest
from github import Auth, Github

from promotions.catalogue.loader import catalog_load
from promotions.errors import TransientError
from promotions.matrix.refresh import matrix_refresh
from promotions.models import Promotion
from promotions.reviews.approvals import approval_submit
from promotions.reviews.merge import promotion_merge
from promotions.tracking.sweeper import promotions_sweep
from promotions.workflow.execute import promotion_execute
from promotions.workflow.request import promotion_cancel, promotion_request
from sandbox.github import GitHubStandIn
from sandbox.gitrepo import RepoBuilder
from tests.builders import BOB, PIPELINE, acting, at, kustomization

State = Promotion.State
TOKENS = {"portal-token": "portal-bot", "bob-token": "bob"}


@pytest.fixture
def gh(tmp_path):
    with GitHubStandIn(root=tmp_path / "github", tokens=TOKENS) as standin:
        yield standin


@pytest.fixture
def github_pipeline(gh, write_catalog, monkeypatch, db):
    """acme/platform on the stand-in: web and api at 1.1.0/2.1.0 in staging, 1.0.0/2.0.0 in production."""
    repo = RepoBuilder(gh.create_repository("acme", "platform"))
    files = {}
    for app, new, old in (("web", "1.1.0", "1.0.0"), ("api", "2.1.0", "2.0.0")):
        for stage, version in (("dev", new), ("staging", new), ("production", old)):
            files[f"{stage}/{app}/kustomization.yaml"] = kustomization(f"ghcr.io/acme/{app}", version)
    repo.commit(files, "Bootstrap", author=BOB, date=at(0))
    monkeypatch.setenv("PORTAL_GITHUB_TOKEN", "portal-token")
    github = (
        f'provider: github, github: {{repo: acme/platform, api_url: "{gh.api_url}", token_env: PORTAL_GITHUB_TOKEN}}'
    )
    path = write_catalog(
        PIPELINE.replace("branch: main}", f"branch: main, {github}}}"), url=gh.clone_url("acme", "platform")
    )
    matrix_refresh(catalog=catalog_load(path))
    return path, repo


def promote(path, app="web", **kwargs) -> Promotion:
    return promotion_request(
        catalog=catalog_load(path), applications=[app], from_stage="staging", to_stage="production", **kwargs
    )


def run(promotion: Promotion) -> Promotion:
    promotion_execute(promotion_id=promotion.pk)
    promotion.refresh_from_db()
    return promotion


def test_a_reviewed_stage_gets_a_github_pull_request_with_the_enrichment(github_pipeline, gh, alice):
    path, repo = github_pipeline
    promotion = run(promote(path, reason="fixes checkout timeouts", metadata={"issue": "JIRA-7"}, requested_by=alice))
    assert promotion.state == State.PR_OPEN
    [pr] = gh.pulls("acme", "platform")
    assert (pr.number, pr.head_ref, pr.base_ref, pr.title) == (promotion.pull_request_number, promotion.pr_branch, "main",
                                                       "Promote web 1.1.0 to production")  # fmt: skip
    assert promotion.pull_request_url.endswith(f"/acme/platform/pull/{pr.number}")
    assert "| web | `1.0.0` | `1.1.0` |" in pr.body
    assert "-    newTag: 1.0.0\n+    newTag: 1.1.0" in pr.body
    assert f"http://127.0.0.1:8000/promotions/{promotion.pk}/" in pr.body
    assert "> fixes checkout timeouts" in pr.body
    assert set(pr.labels) == {"gitops-portal", "stage:production"}
    message = repo._git("log", "-1", "--format=%B", promotion.pr_branch).decode().splitlines()
    assert {f"Promotion-Id: {promotion.pk}", "Requested-By: alice", "Issue: JIRA-7"} <= set(message)


def test_a_502_after_github_created_the_pull_request_still_leaves_exactly_one(github_pipeline, gh):
    path, _ = github_pipeline
    gh.fail_once("POST", r"/repos/acme/platform/pulls$", status=502, when="after")
    promotion = promote(path)
    with pytest.raises(TransientError, match="GitHub acme/platform: 502"):
        promotion_execute(promotion_id=promotion.pk)
    promotion.refresh_from_db()
    assert promotion.state == State.QUEUED  # the task retries it
    assert len(gh.pulls("acme", "platform")) == 1
    promotion = run(promotion)
    assert promotion.state == State.PR_OPEN
    [pr] = gh.pulls("acme", "platform")
    assert pr.number == promotion.pull_request_number
    assert [r for r in gh.requests if r.method == "POST" and r.path.endswith("/pulls")] == [
        ("POST", "/repos/acme/platform/pulls", 502)
    ]


def test_a_rate_limit_waits_for_retry_after_and_succeeds(github_pipeline, gh):
    path, _ = github_pipeline
    gh.rate_limit_once("POST", r"/repos/acme/platform/pulls$", retry_after=1)
    started = time.monotonic()
    promotion = run(promote(path))
    assert promotion.state == State.PR_OPEN
    assert time.monotonic() - started >= 1
    assert len(gh.pulls("acme", "platform")) == 1


def test_a_422_fails_the_promotion_with_githubs_message(github_pipeline, gh):
    path, _ = github_pipeline
    body = {"message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "custom",
                                                         "message": "base branch is protected"}]}  # fmt: skip
    gh.inject(method="POST", path=r"/repos/acme/platform/pulls$", status=422, body=body, times=None)
    promotion = run(promote(path))
    assert promotion.state == State.FAILED
    assert promotion.error == "GitHub acme/platform: 422 Validation Failed; base branch is protected"


def test_merging_from_the_portal_merges_on_github(github_pipeline, gh, bob):
    path, repo = github_pipeline
    promotion = run(promote(path))
    approval_submit(promotion=promotion, actor=acting(bob, path))
    promotion_merge(promotion=promotion, actor=acting(bob, path))
    promotion.refresh_from_db()
    assert promotion.state == State.MERGED
    assert repo.head() == promotion.merge_commit
    assert "newTag: 1.1.0" in repo.read("production/web/kustomization.yaml")
    assert gh.pulls("acme", "platform")[0].merged
    # The promotion's page links its commit, branch and merge commit to their pages on the host.
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(bob)
    html = client.get(reverse("promotion", args=[promotion.pk])).content.decode()
    home = gh.api_url.rstrip("/").removesuffix("/api/v3") + "/acme/platform"  # GitHub Enterprise's pages
    assert f'<a href="{home}/commit/{promotion.commit}"><code>{promotion.commit[:10]}</code></a>' in html
    assert f'<a href="{home}/tree/{promotion.pr_branch}"><code>{promotion.pr_branch}</code></a>' in html
    assert f'<a href="{home}/commit/{promotion.merge_commit}">' in html


def test_a_newer_promotion_closes_the_older_pull_request_with_a_link(github_pipeline, gh):
    path, repo = github_pipeline
    first = run(promote(path))
    repo.commit({"staging/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.2.0")}, "web 1.2.0")
    matrix_refresh(catalog=catalog_load(path))
    second = run(promote(path))
    first.refresh_from_db()
    assert (first.state, second.state) == (State.SUPERSEDED, State.PR_OPEN)
    old, new = gh.pulls("acme", "platform")
    assert (old.state, new.state) == ("closed", "open")
    assert old.comments[-1].body.startswith(f"Superseded by promotion #{second.pk}: http://127.0.0.1:8000/promotions/")


def test_the_sweeper_notices_pull_requests_merged_or_closed_on_github(github_pipeline, gh):
    path, _ = github_pipeline
    merged, closed = run(promote(path, app="web")), run(promote(path, app="api"))
    bob = Github(base_url=gh.api_url, auth=Auth.Token("bob-token"), retry=None)
    repository = bob.get_repo("acme/platform")
    repository.get_pull(merged.pull_request_number).merge()
    repository.get_pull(closed.pull_request_number).edit(state="closed")
    report = promotions_sweep()
    merged.refresh_from_db()
    closed.refresh_from_db()
    assert (report.merged, report.closed) == ([merged.pk], [closed.pk])
    assert (merged.state, closed.state) == (State.MERGED, State.CANCELLED)
    assert merged.merge_commit


def test_cancelling_closes_the_pull_request_with_the_reason(github_pipeline, gh, bob):
    path, _ = github_pipeline
    promotion = run(promote(path))
    promotion_cancel(promotion=promotion, actor=acting(bob, path), reason="wrong build")
    [pr] = gh.pulls("acme", "platform")
    assert pr.state == "closed"
    assert pr.comments[-1].body == "Cancelled in GitOps Portal by bob. wrong build"


def test_a_missing_token_fails_with_the_variable_to_set(github_pipeline, monkeypatch):
    path, _ = github_pipeline
    monkeypatch.delenv("PORTAL_GITHUB_TOKEN")
    promotion = run(promote(path))
    assert promotion.state == State.FAILED
    assert promotion.error == "repository 'platform': PORTAL_GITHUB_TOKEN is not set; the github provider needs a token"


def test_github_reviews_count_except_the_requesters_own(github_pipeline, gh, alice, bob):
    from promotions.models import Profile
    from promotions.reviews.policy import approval_status

    path, _ = github_pipeline
    gh.add_token("alice-token", "alice-gh")
    Profile.objects.create(user=alice, github_login="alice-gh")
    Profile.objects.create(user=bob, github_login="BOB")  # GitHub logins ignore case
    promotion = run(promote(path, requested_by=alice))
    for token in ("alice-token", "bob-token"):
        reviewer = Github(base_url=gh.api_url, auth=Auth.Token(token), retry=None)
        reviewer.get_repo("acme/platform").get_pull(promotion.pull_request_number).create_review(event="APPROVE")
    promotions_sweep()
    promotion.refresh_from_db()
    status = approval_status(promotion, catalog_load(path))
    assert promotion.state == State.APPROVED
    assert status.summary == "1 of 1 approvals (bob)"
    assert [(a.reviewer, why) for a, why in status.ignored] == [
        ("alice", f"alice requested promotion #{promotion.pk} and may not approve or reject it")
    ]
    assert promotion.approvals.filter(source="github").count() == 2


def test_rejecting_closes_the_github_pull_request_with_the_reason(github_pipeline, gh, bob):
    from promotions.reviews.approvals import promotion_reject

    path, _ = github_pipeline
    promotion = run(promote(path))
    promotion_reject(promotion=promotion, actor=acting(bob, path), reason="breaks the checkout")
    [pr] = gh.pulls("acme", "platform")
    assert pr.state == "closed"
    assert pr.comments[-1].body == "Rejected in GitOps Portal by bob: breaks the checkout"


def test_rolling_back_on_github(github_pipeline, gh, alice, bob):
    from promotions.workflow.rollback import promotion_rollback

    path, repo = github_pipeline
    forward = run(promote(path, requested_by=alice))
    approval_submit(promotion=forward, actor=acting(bob, path))
    promotion_merge(promotion=forward, actor=acting(bob, path))
    back = promotion_rollback(catalog=catalog_load(path), application="web", stage="production", requested_by=alice)
    back = run(back)
    assert back.state == State.PR_OPEN
    assert gh.pulls("acme", "platform")[-1].title == "Roll back web to 1.0.0 in production"
    approval_submit(promotion=back, actor=acting(bob, path))
    promotion_merge(promotion=back, actor=acting(bob, path))
    assert "newTag: 1.0.0" in repo.read("production/web/kustomization.yaml")
