"""Borrowed identities: a chat name or a GitHub login equal to a username is nobody; only a link an
admin made counts, and only while the portal user is active."""

import io
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from github import Auth, Github

from promotions.catalogue.loader import catalog_load
from promotions.models import Approval, AuditEvent, Profile, Promotion
from promotions.reviews.approvals import approval_submit
from promotions.reviews.policy import approval_status
from promotions.tracking.sweeper import promotions_sweep
from tests.builders import acting
from tests.github_pipeline import TOKENS, gh, github_pipeline, hooked, promote, run, send  # noqa: F401 - fixtures  # noqa: F401 - fixtures
from tests.test_hooks import SLACK, command, slack  # noqa: F401 - fixtures

State = Promotion.State


def review_webhook(client, promotion: Promotion, login: str, *, review_id: int, state: str = "APPROVED"):
    """What GitHub sends when `login` reviews the promotion's pull request."""
    payload = {"action": "submitted", "repository": {"full_name": "acme/platform"},
               "pull_request": {"number": promotion.pull_request_number},
               "review": {"id": review_id, "user": {"login": login}, "state": state, "commit_id": promotion.commit}}  # fmt: skip
    from promotions.tracking.events import webhook_process

    assert send(client, "pull_request_review", payload, delivery=f"review-{review_id}").status_code == 202
    for delivery in __import__("promotions.models", fromlist=["WebhookDelivery"]).WebhookDelivery.objects.filter(
        processed_at__isnull=True
    ):
        webhook_process(delivery_pk=delivery.pk)


# -- GitHub --------------------------------------------------------------------------------------


def test_it_records_but_never_counts_a_review_from_a_login_nobody_linked(hooked, client, alice, bob):  # noqa: F811
    path, _ = hooked
    promotion = run(promote(path, requested_by=alice))
    review_webhook(client, promotion, "bob", review_id=1)  # any GitHub account may be called "bob"
    promotion.refresh_from_db()
    assert promotion.state == State.PR_OPEN
    approval = Approval.objects.get(promotion=promotion)
    assert (approval.user, approval.reviewer, approval.source) == (None, "bob", "github")
    status = approval_status(promotion, catalog_load(path))
    assert status.counted == []
    assert status.ignored[0][1].startswith("GitHub user bob is not linked to a portal user")
    bob_client = Client()
    bob_client.force_login(bob)
    assert (
        "GitHub user bob is not linked to a portal user"
        in bob_client.get(f"/promotions/{promotion.pk}/").content.decode()
    )


def test_it_does_not_let_an_unlinked_namesake_override_the_real_approvers_decision(hooked, client, alice, bob):  # noqa: F811
    path, _ = hooked
    promotion = run(promote(path, requested_by=alice))
    approval_submit(promotion=promotion, actor=acting(bob, path))
    review_webhook(client, promotion, "bob", review_id=2, state="CHANGES_REQUESTED")
    promotion.refresh_from_db()
    status = approval_status(promotion, catalog_load(path))
    assert promotion.state == State.APPROVED
    assert [a.reviewer for a in status.counted] == ["bob"]
    assert status.blocking == []


def test_it_counts_a_linked_login_only_while_its_user_is_active(hooked, client, alice, bob):  # noqa: F811
    path, _ = hooked
    Profile.objects.create(user=bob, github_login="bob-at-acme")
    promotion = run(promote(path, requested_by=alice))
    bob.is_active = False
    bob.save()
    review_webhook(client, promotion, "bob-at-acme", review_id=3)
    promotion.refresh_from_db()
    assert promotion.state == State.PR_OPEN
    assert approval_status(promotion, catalog_load(path)).ignored[0][1] == "bob's portal account is deactivated"
    bob.is_active = True
    bob.save()
    review_webhook(client, promotion, "Bob-At-Acme", review_id=4)  # GitHub logins ignore case
    promotion.refresh_from_db()
    assert promotion.state == State.APPROVED


def test_it_stops_counting_a_portal_approval_when_the_approver_is_deactivated(hooked, alice, bob):  # noqa: F811
    path, _ = hooked
    promotion = run(promote(path, requested_by=alice))
    approval_submit(promotion=promotion, actor=acting(bob, path))
    User.objects.filter(pk=bob.pk).update(is_active=False)
    status = approval_status(promotion, catalog_load(path))
    assert not status.satisfied
    assert status.ignored[0][1] == "bob's portal account is deactivated"


def test_it_mirrors_reviews_from_the_github_stand_in_only_for_linked_logins(github_pipeline, gh, alice, bob):  # noqa: F811
    path, _ = github_pipeline
    promotion = run(promote(path, requested_by=alice))
    reviewer = Github(base_url=gh.api_url, auth=Auth.Token("bob-token"), retry=None)
    reviewer.get_repo("acme/platform").get_pull(promotion.pull_request_number).create_review(event="APPROVE")
    promotions_sweep()
    promotion.refresh_from_db()
    assert promotion.state == State.PR_OPEN  # "bob" on GitHub is not bob until an admin says so
    call_command("identity_links", "link", "bob", "--github", "bob", stdout=io.StringIO())
    Approval.objects.filter(promotion=promotion).delete()  # mirrored again with the link in place
    promotions_sweep()
    promotion.refresh_from_db()
    assert promotion.state == State.APPROVED


# -- chat ----------------------------------------------------------------------------------------


def test_it_refuses_changes_from_an_unlinked_chat_user_named_like_an_approver(slack, client, alice, bob):  # noqa: F811
    answer = command(client, "promote web to staging", user_id="U-mallory", user_name="bob").json()
    assert answer["response_type"] == "ephemeral"
    assert answer["text"].startswith("I don't know you: your Slack user id `U-mallory` is not linked")
    assert "manage.py identity_links link USERNAME --slack U-mallory" in answer["text"]
    assert not Promotion.objects.exists()
    event = AuditEvent.objects.get(action="chatops.unlinked")
    assert event.targets == {"system": "slack", "user_id": "U-mallory", "user_name": "bob", "linked_to": None}
    assert command(client, "status web", user_id="U-mallory", user_name="bob").json()["text"].startswith("`web`")


def test_it_refuses_a_linked_chat_user_whose_portal_account_is_deactivated(slack, client, alice):  # noqa: F811
    Profile.objects.create(user=alice, chat_user_id="U-alice")
    User.objects.filter(pk=alice.pk).update(is_active=False)
    answer = command(client, "promote web to staging", user_id="U-alice", user_name="alice").json()
    assert answer["text"] == "Your linked portal account (alice) is deactivated: ask an admin."
    assert not Promotion.objects.exists()


def test_it_keeps_slack_and_mattermost_identities_apart(pipeline, client, settings, alice):
    settings.MATTERMOST_COMMAND_TOKEN = "mm-token"
    Profile.objects.create(user=alice, chat_user_id="same-id")
    form = {"text": "promote web to staging", "user_id": "same-id", "user_name": "alice"}
    answer = client.post("/chatops/mattermost/", urlencode(form), content_type="application/x-www-form-urlencoded",
                         headers={"Authorization": "Token mm-token"}).json()  # fmt: skip
    assert answer["text"].startswith("I don't know you: your Mattermost user id `same-id` is not linked")
    assert not Promotion.objects.exists()


def test_it_applies_the_stages_permissions_to_a_linked_chat_user(slack, client, carol):  # noqa: F811
    Profile.objects.create(user=carol, chat_user_id="U-carol")
    slack.write_text(slack.read_text().replace("{name: staging, promotion: {mode: commit}}",
                                               "{name: staging, promotion: {mode: commit, requesters: [developers]}}"))  # fmt: skip
    answer = command(client, "promote web to staging", user_id="U-carol", user_name="carol").json()
    assert answer["text"] == "Refused: carol may not request promotions into staging (requesters: developers)"


# -- the command line and the migration path ----------------------------------------------------


def test_it_refuses_a_deactivated_user_on_the_command_line(pipeline, alice):
    User.objects.filter(pk=alice.pk).update(is_active=False)
    err = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("promote", "web", "--from", "dev", "--to", "staging", "--as", "alice", stderr=err)
    assert exited.value.code == 2
    assert err.getvalue() == "error: user 'alice' is deactivated\n"


def test_it_proposes_links_by_equal_names_and_links_only_what_the_admin_confirms(
    hooked,  # noqa: F811
    client,
    settings,
    alice,
    bob,
    monkeypatch,
):
    path, _ = hooked
    settings.SLACK_SIGNING_SECRET = SLACK
    promotion = run(promote(path, requested_by=alice))
    review_webhook(client, promotion, "bob", review_id=5)
    command(client, "promote web to staging", user_id="U-al", user_name="alice")
    command(client, "promote web to staging", user_id="U-x", user_name="nobody-here")
    out = io.StringIO()
    call_command("identity_links", "propose", stdout=out)
    assert out.getvalue().splitlines() == [
        "slack U-al → alice (seen: chat command on "
        + AuditEvent.objects.get(targets__user_id="U-al").at.strftime("%Y-%m-%d")
        + ")",
        "    confirm: manage.py identity_links link alice --slack U-al",
        "github bob → bob (seen: GitHub review)",
        "    confirm: manage.py identity_links link bob --github bob",
    ]
    assert not Profile.objects.exists()  # proposing links nothing

    monkeypatch.setattr("sys.stdin", io.StringIO("n\ny\n"))
    call_command("identity_links", "propose", "--interactive", stdout=io.StringIO())
    assert list(Profile.objects.values_list("user__username", "github_login", "chat_user_id")) == [("bob", "bob", None)]
    linked = AuditEvent.objects.get(action="identity.linked")
    assert (linked.source, linked.message) == ("cli", "github bob → bob")


def test_it_refuses_to_link_an_identity_that_is_someone_elses(pipeline, alice, bob):
    from django.core.management.base import CommandError

    call_command("identity_links", "link", "alice", "--slack", "U1", stdout=io.StringIO())
    with pytest.raises(CommandError, match="slack U1 is already linked to alice; unlink it first"):
        call_command("identity_links", "link", "bob", "--slack", "U1", stdout=io.StringIO())
    call_command("identity_links", "unlink", "alice", "--slack", stdout=io.StringIO())
    call_command("identity_links", "link", "bob", "--slack", "U1", stdout=io.StringIO())
    assert Profile.objects.get(chat_user_id="U1").user == bob
