"""A review dismissed on GitHub or Gitea stops counting, whether the sweeper reads it or a webhook says so."""

from __future__ import annotations

from github import Auth, Github

from promotions.catalogue.loader import catalog_load
from promotions.models import AuditEvent, Profile, Promotion, WebhookDelivery
from promotions.reviews.policy import approval_status
from promotions.tracking.events import webhook_process
from promotions.tracking.sweeper import promotions_sweep
from tests.github_pipeline import gh, github_pipeline, hooked, promote, run, send  # noqa: F401 - fixtures

State = Promotion.State


def reviewed(gh, promotion: Promotion, user_token: str):  # type: ignore[no-untyped-def]  # noqa: F811
    client = Github(base_url=gh.api_url, auth=Auth.Token(user_token), retry=None)
    return client.get_repo("acme/platform").get_pull(promotion.pull_request_number)


def test_a_dismissed_approval_read_by_the_sweeper_no_longer_counts(github_pipeline, gh, alice, bob):  # noqa: F811
    path, _ = github_pipeline
    Profile.objects.create(user=bob, github_login="bob")
    promotion = run(promote(path, requested_by=alice))
    pull = reviewed(gh, promotion, "bob-token")
    review = pull.create_review(event="APPROVE")
    promotions_sweep()
    promotion.refresh_from_db()
    assert promotion.state == State.APPROVED
    review.dismiss("approved the wrong pull request")
    promotions_sweep()
    promotions_sweep()  # recorded once
    promotion.refresh_from_db()
    assert promotion.state == State.PR_OPEN
    assert approval_status(promotion, catalog_load(path)).counted == []
    assert list(promotion.approvals.values_list("reviewer", "decision")) == [("bob", "approved"), ("bob", "withdrawn")]
    assert AuditEvent.objects.filter(action="approval.github_dismissed", promotion=promotion).count() == 1


def test_a_dismissal_webhook_takes_the_approval_back(hooked, client, alice, bob):  # noqa: F811
    path, _ = hooked
    Profile.objects.create(user=bob, github_login="bob")
    promotion = run(promote(path, requested_by=alice))
    review = {"id": 77, "user": {"login": "bob"}, "state": "APPROVED", "commit_id": promotion.commit}
    base = {"repository": {"full_name": "acme/platform"}, "pull_request": {"number": promotion.pull_request_number}}
    send(client, "pull_request_review", {**base, "action": "submitted", "review": review}, delivery="r-1")
    send(client, "pull_request_review", {**base, "action": "dismissed", "review": {**review, "state": "DISMISSED"}},
         delivery="r-2")  # fmt: skip
    states = []
    for delivery in WebhookDelivery.objects.order_by("received_at"):
        webhook_process(delivery_pk=delivery.pk)
        promotion.refresh_from_db()
        states.append(promotion.state)
    assert states == [State.APPROVED, State.PR_OPEN]


def test_a_review_dismissed_on_gitea_no_longer_counts(write_catalog, monkeypatch, tmp_path, alice, bob):
    from tests.hosts import GiteaHost, hosted_pipeline

    host = GiteaHost(tmp_path / "gitea")
    try:
        path, _ = hosted_pipeline(host, write_catalog, monkeypatch)
        Profile.objects.create(user=bob, gitea_username="bob")
        promotion = run(promote(path, requested_by=alice))
        host.approve(promotion.pull_request_number, "bob")
        promotions_sweep()
        promotion.refresh_from_db()
        assert promotion.state == State.APPROVED
        [review] = host._api("GET", f"/pulls/{promotion.pull_request_number}/reviews", "bob")
        host._api("POST", f"/pulls/{promotion.pull_request_number}/reviews/{review['id']}/dismissals", "alice",
                  json={"message": "approved the wrong pull request"})  # fmt: skip
        promotions_sweep()
        promotion.refresh_from_db()
        assert promotion.state == State.PR_OPEN
        assert AuditEvent.objects.filter(action="approval.gitea_dismissed").count() == 1
    finally:
        host.stop()
