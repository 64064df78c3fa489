"""Endpoints for other systems: Git hosting webhooks and chat slash commands. They carry no
session and no CSRF token: each request proves itself with an HMAC signature instead."""

from __future__ import annotations

import hmac
import re
import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from promotions.inbound.chatops import slash_command
from promotions.inbound.signatures import slack_valid
from promotions.inbound.webhooks import WebhookRefused, delivery_first_time, webhook_receive


@csrf_exempt
@require_POST
def github_webhook(request: HttpRequest) -> HttpResponse:
    """Verified (before the body is parsed), de-duplicated, stored, answered at once; the work
    happens in a task."""
    return _hook(request, "github", "X-GitHub-Event", "X-GitHub-Delivery", "X-Hub-Signature-256")


@csrf_exempt
@require_POST
def gitlab_webhook(request: HttpRequest) -> HttpResponse:
    """GitLab's webhooks, the same way: the secret token is checked first, the work is a task."""
    return _hook(request, "gitlab", "X-Gitlab-Event", "X-Gitlab-Event-UUID", "X-Gitlab-Token")


@csrf_exempt
@require_POST
def gitea_webhook(request: HttpRequest) -> HttpResponse:
    """Gitea's and Forgejo's webhooks (Forgejo sends both header families; either is enough)."""
    return _hook(request, "gitea", "X-Gitea-Event", "X-Gitea-Delivery", "X-Gitea-Signature", also="X-Forgejo-")


def _hook(request: HttpRequest, provider: str, event: str, delivery: str, proof: str, also: str = "") -> HttpResponse:
    def header(name: str) -> str:
        alias = also + name.split("-", 2)[2] if also else ""
        return request.headers.get(name) or (request.headers.get(alias, "") if alias else "")

    try:
        outcome = webhook_receive(provider=provider, event=header(event), delivery_id=header(delivery),
                                  proof=header(proof), body=request.body)  # fmt: skip
    except WebhookRefused as exc:
        return JsonResponse({"error": str(exc)}, status=exc.status)
    return JsonResponse({"status": outcome}, status=202 if outcome == "accepted" else 200)


@csrf_exempt
@require_POST
def slack_command(request: HttpRequest) -> HttpResponse:
    """A Slack slash command, signed with the app's signing secret."""
    secret = settings.SLACK_SIGNING_SECRET
    if not secret:
        return JsonResponse({"text": "chatops is not configured (SLACK_SIGNING_SECRET)"}, status=503)
    problem = slack_valid(secret, request.headers.get("X-Slack-Request-Timestamp", ""), request.body,
                          request.headers.get("X-Slack-Signature", ""), now=time.time())  # fmt: skip
    if problem:
        return JsonResponse({"text": f"refused: {problem}"}, status=401)
    # Inside the replay window the same signed request must not act twice.
    seen = request.headers.get("X-Slack-Request-Timestamp", "") + request.headers.get("X-Slack-Signature", "")
    if not delivery_first_time(system="slack", key=seen):
        return JsonResponse(REPLAYED)
    return JsonResponse(slash_command(request.POST, system="slack"))


REPLAYED = {"response_type": "ephemeral", "text": "This request was already handled; the replay is ignored."}


SLACK_LINK = re.compile(r"<(https?://[^|>\s]+)\|([^>]+)>")


@csrf_exempt
@require_POST
def mattermost_command(request: HttpRequest) -> HttpResponse:
    """A Mattermost slash command: the same form as Slack's, proven by the command's token
    (`Authorization: Token …`, or the `token` field) rather than a signature."""
    expected = settings.MATTERMOST_COMMAND_TOKEN
    if not expected:
        return JsonResponse({"text": "chatops is not configured (MATTERMOST_COMMAND_TOKEN)"}, status=503)
    header = request.headers.get("Authorization", "")
    given = header.removeprefix("Token ").strip() if header.startswith("Token ") else request.POST.get("token", "")
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        return JsonResponse({"text": "refused: bad token"}, status=401)
    trigger = request.POST.get("trigger_id", "")  # unique per invocation, when Mattermost sends one
    if trigger and not delivery_first_time(system="mattermost", key=trigger):
        return JsonResponse(REPLAYED)
    reply = slash_command(request.POST, system="mattermost")
    text = SLACK_LINK.sub(r"[\2](\1)", reply["text"])  # Mattermost writes links in Markdown
    return JsonResponse({"response_type": reply["response_type"], "text": text})
