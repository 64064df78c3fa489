"""Requests from other systems: GitHub's signature scheme, and Slack and Mattermost slash commands
(signature, replay window, user mapping). Webhooks from every Git host: tests/test_hooks_hosted.py."""

import time
from urllib.parse import urlencode

import pytest
from django.test import Client

from promotions.catalogue.loader import catalog_load
from promotions.inbound.signatures import github_signature, slack_signature
from promotions.models import AuditEvent, Profile, Promotion
from promotions.workflow.execute import promotion_execute
from promotions.workflow.request import promotion_request

State = Promotion.State


def test_github_signatures_match_githubs_documented_example():
    # From GitHub's docs ("Validating webhook deliveries"): this secret and payload give this signature.
    signature = github_signature("It's a Secret to Everybody", b"Hello, World!")
    assert signature == "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


# -- Slack --------------------------------------------------------------------------------------

SLACK = "slack-test-signing-secret"


@pytest.fixture
def slack(pipeline, settings):
    settings.SLACK_SIGNING_SECRET = SLACK
    return pipeline


def command(client: Client, text: str, *, user_id="U1", user_name="alice", secret=SLACK, at: float | None = None):
    body = urlencode({"command": "/portal", "text": text, "user_id": user_id, "user_name": user_name,
                      "team_id": "T1"}).encode()  # fmt: skip
    timestamp = str(int(at if at is not None else time.time()))
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": slack_signature(secret, timestamp, body)}
    return client.post("/chatops/slack/", body, content_type="application/x-www-form-urlencoded", headers=headers)


def test_slack_requests_must_be_signed_and_fresh(slack, client):
    assert command(client, "help").status_code == 200
    wrong = command(client, "help", secret="nope")
    assert (wrong.status_code, wrong.json()["text"]) == (401, "refused: bad signature")
    stale = command(client, "help", at=time.time() - 600)
    assert stale.status_code == 401
    assert stale.json()["text"].startswith("refused: stale request (600s old)")


def test_status_and_help_answer_anyone_in_the_workspace(slack, client):
    answer = command(client, "status web", user_name="someone-unknown").json()
    assert answer["response_type"] == "ephemeral"
    assert answer["text"] == "`web` dev 1.1.0 → staging 1.0.0 → production 1.0.0"
    assert "promote APP to STAGE" in command(client, "help").json()["text"]


def test_changes_need_a_chat_user_linked_to_a_portal_user(slack, client, alice):
    refused = command(client, "promote web to staging", user_id="U999", user_name="stranger").json()
    assert refused["text"].startswith("I don't know you: your Slack user id `U999` is not linked to a portal account.")
    assert not Promotion.objects.exists()
    Profile.objects.create(user=alice, chat_user_id="U42")
    answer = command(client, "promote web to staging", user_id="U42", user_name="al").json()
    promotion = Promotion.objects.get()
    assert answer["response_type"] == "in_channel"
    assert (
        answer["text"]
        == f"alice requested: Promote web 1.1.0 to staging. <http://127.0.0.1:8000/promotions/{promotion.pk}/|#{promotion.pk}>"
    )
    assert (promotion.requested_by, promotion.from_stage) == (alice, "dev")
    assert AuditEvent.objects.get(promotion=promotion, action="promotion.queued").source == "chatops"


def test_reviews_from_chat_follow_the_same_rules(slack, client, alice, bob, repo):
    from tests.builders import kustomization

    repo.commit({"staging/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.1.0")}, "to staging")
    from promotions.matrix.refresh import matrix_refresh

    matrix_refresh(catalog=catalog_load(slack))
    promotion = promotion_request(catalog=catalog_load(slack), applications=["web"], from_stage="staging",
                                  to_stage="production", requested_by=alice)  # fmt: skip
    promotion_execute(promotion_id=promotion.pk)
    Profile.objects.create(user=alice, chat_user_id="U-alice")
    Profile.objects.create(user=bob, chat_user_id="U-bob")
    own = command(client, f"approve {promotion.pk}", user_id="U-alice", user_name="alice").json()
    assert own["text"] == f"Refused: alice requested promotion #{promotion.pk} and may not approve or reject it"
    done = command(client, f"approve #{promotion.pk}", user_id="U-bob", user_name="bob").json()
    assert done["text"].startswith(f"bob approved #{promotion.pk} (1 of 1 approvals (bob)).")
    promotion.refresh_from_db()
    assert promotion.state == State.APPROVED


# -- Mattermost ---------------------------------------------------------------------------------

MATTERMOST = "mm-command-token"


def mattermost(client: Client, text: str, *, token: str = MATTERMOST, user_name: str = "alice", header: bool = True):
    form = {"command": "/portal", "text": text, "user_id": "mm-1", "user_name": user_name, "team_id": "t"}
    if not header:
        form["token"] = token
    headers = {"Authorization": f"Token {token}"} if header else {}
    return client.post("/chatops/mattermost/", urlencode(form), content_type="application/x-www-form-urlencoded",
                       headers=headers)  # fmt: skip


def test_mattermost_commands_need_the_command_token_and_answer_in_markdown(pipeline, client, settings, alice):
    assert mattermost(client, "help").status_code == 503  # not configured: nothing is accepted
    settings.MATTERMOST_COMMAND_TOKEN = MATTERMOST
    wrong = mattermost(client, "promote web to staging", token="guess")
    assert (wrong.status_code, wrong.json()["text"]) == (401, "refused: bad token")
    assert mattermost(client, "help", token="", header=False).status_code == 401
    assert not Promotion.objects.exists()
    Profile.objects.create(user=alice, mattermost_user_id="mm-1")

    answer = mattermost(client, "promote web to staging", header=False).json()
    promotion = Promotion.objects.get()
    assert answer == {"response_type": "in_channel", "text": f"alice requested: Promote web 1.1.0 to staging. "
                      f"[#{promotion.pk}](http://127.0.0.1:8000/promotions/{promotion.pk}/)"}  # fmt: skip
    assert AuditEvent.objects.get(promotion=promotion, action="promotion.queued").source == "chatops"
    status = mattermost(client, "status web", user_name="anyone").json()
    assert status["text"] == "`web` dev 1.1.0 → staging 1.0.0 → production 1.0.0"
