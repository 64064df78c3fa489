"""Requests from outside, as an attacker sends them: the signature is checked on the raw body
before anything is parsed, and a signed chat command cannot be replayed."""

import json
import time
from urllib.parse import urlencode

import pytest
from django.test import Client

from promotions.inbound.signatures import github_signature, slack_signature
from promotions.models import Promotion, WebhookDelivery
from tests.github_pipeline import SECRET, TOKENS, gh, github_pipeline, hooked  # noqa: F401 - fixtures  # noqa: F401 - fixtures
from tests.test_hooks import SLACK, command, slack  # noqa: F401 - fixtures


def post(client: Client, body: bytes, *, secret: str | None = SECRET, event: str = "push", delivery: str = "d-1"):
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery}
    if secret is not None:
        headers["X-Hub-Signature-256"] = github_signature(secret, body)
    return client.post("/webhooks/github/", body, content_type="application/json", headers=headers)


@pytest.mark.parametrize("body", [b"[1, 2]", b'"a string"', b"null", b"42", b'{"repository": "acme/platform"}',
                                  b'{"repository": ["acme/platform"]}', b"\xff\xfe not even text"])  # fmt: skip
def test_it_refuses_unsigned_odd_bodies_before_reading_them(hooked, client, body):  # noqa: F811
    answer = post(client, body, secret=None)
    assert (answer.status_code, answer.json()) == (401, {"error": "bad signature (X-Hub-Signature-256)"})
    answer = post(client, body, secret="guessed")
    assert answer.status_code == 401


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [(b"[1, 2]", 400, "the body is not a JSON object"), (b'"a string"', 400, "the body is not a JSON object"),
     (b"not json", 400, "the body is not JSON"),
     (b'{"repository": "acme/platform"}', 404, "no repository (none) in the catalogue signed with this secret"),
     (b"{}", 404, "no repository (none) in the catalogue signed with this secret")],
)  # fmt: skip
def test_it_answers_signed_odd_bodies_with_a_clear_error_never_a_500(hooked, client, body, status, error):  # noqa: F811
    answer = post(client, body)
    assert (answer.status_code, answer.json()) == (status, {"error": error})
    assert not WebhookDelivery.objects.exists()


def test_it_does_not_tell_an_unsigned_caller_which_repositories_exist(hooked, client):  # noqa: F811
    known = post(client, json.dumps({"repository": {"full_name": "acme/platform"}}).encode(), secret="x")
    unknown = post(client, json.dumps({"repository": {"full_name": "evil/repo"}}).encode(), secret="x")
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())


def test_it_says_which_variable_to_set_when_no_secret_is_configured(hooked, client, monkeypatch):  # noqa: F811
    monkeypatch.delenv("GITHUB_WEBHOOK_SECRET")
    answer = post(client, b"{}")
    assert (answer.status_code, answer.json()) == (
        503,
        {"error": "no webhook secret configured (set GITHUB_WEBHOOK_SECRET)"},
    )


def test_it_ignores_a_replayed_slack_command_inside_the_window(slack, client, alice):  # noqa: F811
    from promotions.models import Profile

    Profile.objects.create(user=alice, chat_user_id="U-alice")
    body = urlencode({"command": "/portal", "text": "promote web to staging", "user_id": "U-alice",
                      "user_name": "alice", "team_id": "T1"}).encode()  # fmt: skip
    stamp = str(int(time.time()))
    headers = {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": slack_signature(SLACK, stamp, body)}
    once = client.post("/chatops/slack/", body, content_type="application/x-www-form-urlencoded", headers=headers)
    again = client.post("/chatops/slack/", body, content_type="application/x-www-form-urlencoded", headers=headers)
    assert once.json()["response_type"] == "in_channel"
    assert again.status_code == 200
    assert again.json()["text"] == "This request was already handled; the replay is ignored."
    assert Promotion.objects.count() == 1
    # The same command typed again is a new request (a new timestamp and signature): it is answered.
    assert command(client, "status web", user_id="U-alice").json()["text"].startswith("`web`")


def test_it_ignores_a_replayed_mattermost_command_with_the_same_trigger(pipeline, client, settings, alice):
    from promotions.models import Profile

    settings.MATTERMOST_COMMAND_TOKEN = "mm-token"
    Profile.objects.create(user=alice, mattermost_user_id="mm-alice")
    form = urlencode({"text": "promote web to staging", "user_id": "mm-alice", "user_name": "alice",
                      "trigger_id": "dHJpZ2dlcjox"})  # fmt: skip
    for _ in range(2):
        answer = client.post("/chatops/mattermost/", form, content_type="application/x-www-form-urlencoded",
                             headers={"Authorization": "Token mm-token"})  # fmt: skip
    assert answer.json()["text"] == "This request was already handled; the replay is ignored."
    assert Promotion.objects.count() == 1
