"""Promotions into a repository on each Git host — GitHub, GitLab, Gitea/Forgejo — through the
portal's providers over real HTTP against the stand-ins (sandbox/), real git underneath, faults
injected on the wire. One test, three hosts: `tests/hosts.py` drives each the way people do."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from promotions.catalogue.loader import catalog_load
from promotions.errors import TransientError
from promotions.matrix.refresh import matrix_refresh
from promotions.models import AuditEvent, Profile, Promotion
from promotions.reviews.approvals import approval_submit, promotion_reject
from promotions.reviews.merge import promotion_merge
from promotions.reviews.policy import approval_status
from promotions.tracking.sweeper import promotions_sweep
from promotions.workflow.execute import promotion_execute
from promotions.workflow.request import promotion_cancel
from promotions.workflow.rollback import promotion_rollback
from tests.builders import acting, kustomization
from tests.hosts import HOSTS, Host, hosted_pipeline, promote, run

State = Promotion.State
TITLES = {"github": "GitHub", "gitlab": "GitLab", "gitea": "Gitea"}


@pytest.fixture(params=HOSTS)
def host(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Host]:
    driver = HOSTS[request.param](tmp_path / request.param)
    yield driver
    driver.stop()


@pytest.fixture
def hosted(host: Host, write_catalog, monkeypatch, db):  # type: ignore[no-untyped-def]
    return hosted_pipeline(host, write_catalog, monkeypatch)


def test_a_reviewed_stage_gets_a_pull_request_with_the_enrichment(hosted, host, alice):
    path, repo = hosted
    promotion = run(promote(path, reason="fixes checkout timeouts", metadata={"issue": "JIRA-7"}, requested_by=alice))
    assert promotion.state == State.PR_OPEN
    [pr] = host.pulls()
    assert (pr.number, pr.head_ref, pr.base_ref, pr.title) == (promotion.pull_request_number, promotion.pr_branch, "main",
                                                       "Promote web 1.1.0 to production")  # fmt: skip
    assert promotion.pull_request_url.startswith(host.home())
    assert "| web | `1.0.0` | `1.1.0` |" in pr.body
    assert "-    newTag: 1.0.0\n+    newTag: 1.1.0" in pr.body
    assert f"http://127.0.0.1:8000/promotions/{promotion.pk}/" in pr.body
    assert "> fixes checkout timeouts" in pr.body
    assert pr.labels == {"gitops-portal", "stage:production"}
    message = repo._git("log", "-1", "--format=%B", promotion.pr_branch).decode().splitlines()
    assert {f"Promotion-Id: {promotion.pk}", "Requested-By: alice", "Issue: JIRA-7"} <= set(message)


def test_a_502_after_the_host_created_the_pull_request_still_leaves_exactly_one(hosted, host):
    path, _ = hosted
    host.inject_create(502, when="after")
    promotion = promote(path)
    with pytest.raises(TransientError, match=f"{TITLES[host.name]} acme/platform: 502"):
        promotion_execute(promotion_id=promotion.pk)
    promotion.refresh_from_db()
    assert promotion.state == State.QUEUED  # the task retries it
    assert len(host.pulls()) == 1
    promotion = run(promotion)
    assert promotion.state == State.PR_OPEN
    [pr] = host.pulls()
    assert pr.number == promotion.pull_request_number
    assert [status for _method, _path, status in host.creates()] == [502]


def test_a_rate_limit_waits_and_succeeds(hosted, host):
    path, _ = hosted
    host.rate_limit_create(retry_after=1)
    started = time.monotonic()
    promotion = run(promote(path))
    assert promotion.state == State.PR_OPEN
    assert time.monotonic() - started >= 1
    assert len(host.pulls()) == 1


def test_a_refusal_fails_the_promotion_with_the_hosts_message(hosted, host):
    path, _ = hosted
    host.inject_create(422, times=None, body=host.refusal_body("base branch is protected"))
    promotion = run(promote(path))
    assert promotion.state == State.FAILED
    assert promotion.error.startswith(f"{TITLES[host.name]} acme/platform: 422 ")
    assert "base branch is protected" in promotion.error


def test_merging_from_the_portal_merges_on_the_host(hosted, host, bob):
    path, repo = hosted
    promotion = run(promote(path))
    approval_submit(promotion=promotion, actor=acting(bob, path))
    promotion_merge(promotion=promotion, actor=acting(bob, path))
    promotion.refresh_from_db()
    assert promotion.state == State.MERGED
    assert repo.head() == promotion.merge_commit
    assert "newTag: 1.1.0" in repo.read("production/web/kustomization.yaml")
    assert host.pulls()[0].state == "merged"
    # The promotion's page links its commit, branch and merge commit to their pages on the host.
    client = Client()
    client.force_login(bob)
    html = client.get(reverse("promotion", args=[promotion.pk])).content.decode()
    links = catalog_load(path).host_links("platform")
    assert links is not None
    assert links.base == host.home()
    assert f'<a href="{links.commit(promotion.commit)}"><code>{promotion.commit[:10]}</code></a>' in html
    assert f'<a href="{links.branch(promotion.pr_branch)}"><code>{promotion.pr_branch}</code></a>' in html
    assert f'<a href="{links.commit(promotion.merge_commit)}">' in html


def test_a_newer_promotion_closes_the_older_pull_request_with_a_link(hosted, host):
    path, repo = hosted
    first = run(promote(path))
    repo.commit({"staging/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.2.0")}, "web 1.2.0")
    matrix_refresh(catalog=catalog_load(path))
    second = run(promote(path))
    first.refresh_from_db()
    assert (first.state, second.state) == (State.SUPERSEDED, State.PR_OPEN)
    old, new = host.pulls()
    assert (old.state, new.state) == ("closed", "open")
    assert old.comments[-1].startswith(f"Superseded by promotion #{second.pk}: http://127.0.0.1:8000/promotions/")


def test_the_sweeper_notices_pull_requests_merged_or_closed_on_the_host(hosted, host):
    path, _ = hosted
    merged, closed = run(promote(path, app="web")), run(promote(path, app="api"))
    host.merge(merged.pull_request_number)
    host.close(closed.pull_request_number)
    report = promotions_sweep()
    merged.refresh_from_db()
    closed.refresh_from_db()
    assert (report.merged, report.closed) == ([merged.pk], [closed.pk])
    assert (merged.state, closed.state) == (State.MERGED, State.CANCELLED)
    assert merged.merge_commit


def test_cancelling_closes_the_pull_request_with_the_reason(hosted, host, bob):
    path, _ = hosted
    promotion = run(promote(path))
    promotion_cancel(promotion=promotion, actor=acting(bob, path), reason="wrong build")
    [pr] = host.pulls()
    assert pr.state == "closed"
    assert pr.comments[-1] == "Cancelled in GitOps Portal by bob. wrong build"


def test_a_missing_token_fails_with_the_variable_to_set(hosted, host, monkeypatch):
    path, _ = hosted
    monkeypatch.delenv(host.token_env)
    promotion = run(promote(path))
    assert promotion.state == State.FAILED
    assert promotion.error == (
        f"repository 'platform': {host.token_env} is not set; the {host.name} provider needs a token"
    )


def test_reviews_on_the_host_count_except_the_requesters_own(hosted, host, alice, bob):
    path, _ = hosted
    field = Profile.HOST_FIELDS[host.name]
    Profile.objects.create(user=alice, **{field: "alice-gh"})
    Profile.objects.create(user=bob, **{field: "BOB"})  # logins ignore case on every host
    promotion = run(promote(path, requested_by=alice))
    for user in ("alice", "bob"):
        host.approve(promotion.pull_request_number, user)
    promotions_sweep()
    promotion.refresh_from_db()
    status = approval_status(promotion, catalog_load(path))
    assert promotion.state == State.APPROVED
    assert status.summary == "1 of 1 approvals (bob)"
    assert [(a.reviewer, why) for a, why in status.ignored] == [
        ("alice", f"alice requested promotion #{promotion.pk} and may not approve or reject it")
    ]
    assert promotion.approvals.filter(source=host.name).count() == 2


def test_an_unlinked_reviewer_on_the_host_counts_for_nobody(hosted, host, alice):
    path, _ = hosted
    promotion = run(promote(path, requested_by=alice))
    host.approve(promotion.pull_request_number, "bob")  # a host login "bob", never linked to the portal's bob
    promotions_sweep()
    promotion.refresh_from_db()
    status = approval_status(promotion, catalog_load(path))
    assert promotion.state == State.PR_OPEN
    [(_approval, why)] = status.ignored
    assert why == (f"{TITLES[host.name]} user bob is not linked to a portal user (an admin links it: "
                   f"manage.py identity_links link USERNAME --{host.name} bob)")  # fmt: skip


def test_rejecting_closes_the_pull_request_with_the_reason(hosted, host, bob):
    path, _ = hosted
    promotion = run(promote(path))
    promotion_reject(promotion=promotion, actor=acting(bob, path), reason="breaks the checkout")
    [pr] = host.pulls()
    assert pr.state == "closed"
    assert pr.comments[-1] == "Rejected in GitOps Portal by bob: breaks the checkout"


def test_rolling_back_on_the_host(hosted, host, alice, bob):
    path, repo = hosted
    forward = run(promote(path, requested_by=alice))
    approval_submit(promotion=forward, actor=acting(bob, path))
    promotion_merge(promotion=forward, actor=acting(bob, path))
    back = promotion_rollback(catalog=catalog_load(path), application="web", stage="production", requested_by=alice)
    back = run(back)
    assert back.state == State.PR_OPEN
    assert host.pulls()[-1].title == "Roll back web to 1.0.0 in production"
    approval_submit(promotion=back, actor=acting(bob, path))
    promotion_merge(promotion=back, actor=acting(bob, path))
    assert "newTag: 1.0.0" in repo.read("production/web/kustomization.yaml")


def test_a_refused_token_fails_with_401_and_never_shows_the_token(hosted, host, monkeypatch):
    path, _ = hosted
    monkeypatch.setenv(host.token_env, "tok-e1f2a3b4c5d6")  # Gitea and Forgejo echo a refused token back
    promotion = run(promote(path))
    assert promotion.state == State.FAILED
    assert promotion.error.startswith(f"{TITLES[host.name]} acme/platform: 401 ")
    assert "e1f2a3b4c5d6" not in promotion.error
    assert not AuditEvent.objects.filter(message__contains="e1f2a3b4c5d6").exists()


def test_a_rate_limit_longer_than_a_minute_is_left_to_a_later_retry(hosted, host):
    path, _ = hosted
    host.rate_limit_create(retry_after=3600)
    promotion = promote(path)
    started = time.monotonic()
    with pytest.raises(TransientError, match=f"{TITLES[host.name]} rate limit for acme/platform; retry in 3600s"):
        promotion_execute(promotion_id=promotion.pk)
    assert time.monotonic() - started < 10  # no worker asleep for an hour
    promotion.refresh_from_db()
    assert promotion.state == State.QUEUED
    assert host.pulls() == []
