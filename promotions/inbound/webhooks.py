"""Events from Git hosting, received fast: verified before anything is parsed, de-duplicated,
stored, and handed to a worker (`promotions.tracking.events` acts on them)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from promotions.catalogue.loader import catalog_get
from promotions.catalogue.schema import WEBHOOK_SECRET_ENV, RepositoryConfig
from promotions.inbound.signatures import gitea_valid, github_valid, token_valid
from promotions.models import WebhookDelivery
from promotions.queue import task_send


class WebhookRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class Host:
    """How one Git host's webhooks prove themselves and name their repository and delivery."""

    proof: str  # the header that proves the request (for the refusal)
    delivery: str  # the header with the delivery's id
    verify: Callable[[str, bytes, str], bool]  # (secret, raw body, proof) -> genuine
    names: tuple[str, str]  # where the payload names the repository: object, field
    events: tuple[str, ...] | None  # the events acted on (None: every one; GitHub's handlers choose)


# The events the portal acts on; a verified delivery of any other kind is answered and dropped.
GITLAB_EVENTS = ("Merge Request Hook", "Push Hook", "Pipeline Hook", "Note Hook")
# Gitea's coarse X-Gitea-Event names (a review approval is `pull_request_approved`).
GITEA_EVENTS = ("pull_request", "pull_request_approved", "pull_request_rejected", "push", "status")
HOSTS = {
    "github": Host("X-Hub-Signature-256", "X-GitHub-Delivery", github_valid, ("repository", "full_name"), None),
    # GitLab sends the secret itself, compared in constant time.
    "gitlab": Host("X-Gitlab-Token", "X-Gitlab-Event-UUID", lambda secret, _body, token: token_valid(secret, token),
                   ("project", "path_with_namespace"), GITLAB_EVENTS),
    # Gitea and Forgejo: the body's HMAC (X-Gitea-Signature or X-Forgejo-Signature).
    "gitea": Host("X-Gitea-Signature", "X-Gitea-Delivery", gitea_valid, ("repository", "full_name"), GITEA_EVENTS),
}  # fmt: skip


def webhook_receive(*, provider: str, event: str, delivery_id: str, proof: str, body: bytes) -> str:
    """Verify and store one delivery from a Git host; returns what to answer. WebhookRefused for bad
    requests.

    The proof is checked on the raw body before anything parses it, against the secrets of the
    catalogue's repositories on that host; only then is the body read, and the repository it names
    must be one whose secret verified it (so an unproven request learns nothing about the catalogue)."""
    host = HOSTS[provider]
    signed = _signed_by(provider, lambda secret: host.verify(secret, body, proof), host.proof)
    payload = _payload(body)
    holder, field = host.names
    named = payload.get(holder)
    claimed = str(named.get(field, "")) if isinstance(named, dict) else ""
    repo = next((r for r in signed if claimed and r.host_path.lower() == claimed.lower()), None)
    if repo is None:
        raise WebhookRefused(404, f"no repository {claimed or '(none)'} in the catalogue signed with this secret")
    if provider == "github" and event == "ping":
        return "pong"
    if not delivery_id:
        raise WebhookRefused(400, f"missing {host.delivery}")
    if host.events is not None and event not in host.events:
        return f"event {event[:50]!r} ignored"
    # GitLab gives every hook one request fires (a merge's merge request and push hooks) the same
    # event UUID: the event's name is part of what makes a delivery the same one again.
    key = {"github": delivery_id, "gitlab": f"gitlab:{event[:20]}:{delivery_id}"}.get(
        provider, f"{provider}:{delivery_id}"
    )
    stored_event = event if provider == "github" else f"{provider}:{event}"
    return _accepted(delivery_id=key, event=stored_event, repository=repo.name, payload=payload)


def _accepted(*, delivery_id: str, event: str, repository: str, payload: dict[str, Any]) -> str:
    if len(delivery_id) > 100:
        raise WebhookRefused(400, "delivery id longer than 100 characters")
    delivery = _stored_once(delivery_id=delivery_id, event=event, repository=repository, payload=payload)
    if delivery is None:
        return "duplicate delivery ignored"
    transaction.on_commit(lambda: webhook_dispatch(delivery_pk=delivery.pk))
    return "accepted"


def _signed_by(provider: str, valid: Callable[[str], bool], header: str) -> list[RepositoryConfig]:
    """The catalogue's repositories on `provider` whose webhook secret `valid` accepts."""
    catalog = catalog_get(settings.GITOPS_PORTAL_CONFIG)
    hosted = [repo for repo in catalog.repositories if repo.provider == provider]
    secrets = {repo.webhook_secret_env: os.environ.get(repo.webhook_secret_env, "") for repo in hosted}
    if not any(secrets.values()):
        names = ", ".join(sorted(secrets)) or WEBHOOK_SECRET_ENV[provider]
        raise WebhookRefused(503, f"no webhook secret configured (set {names})")
    accepted = {env for env, secret in secrets.items() if secret and valid(secret)}
    if not accepted:
        raise WebhookRefused(401, f"bad signature ({header})")
    return [repo for repo in hosted if repo.webhook_secret_env in accepted]


def _payload(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        raise WebhookRefused(400, "the body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookRefused(400, "the body is not a JSON object")
    return payload


def delivery_first_time(*, system: str, key: str) -> bool:
    """Remember a request acted on at once (a chat command) by a key its signature covers; False
    when the same request was seen before: a replay, to be ignored."""
    delivery_id = f"{system}:{hashlib.sha256(key.encode()).hexdigest()}"
    stored = _stored_once(delivery_id=delivery_id, event=f"{system}.command", payload={}, processed_at=timezone.now())
    return stored is not None


def _stored_once(**fields: Any) -> WebhookDelivery | None:
    """Record a delivery under its id; None when that id was recorded before (a redelivery or a replay)."""
    try:
        with transaction.atomic():
            return WebhookDelivery.objects.create(**fields)
    except IntegrityError:
        return None


def webhook_dispatch(*, delivery_pk: int) -> None:
    """Hand a stored delivery to a worker (if the queue is away, the sweeper sends it later)."""
    task_send("webhook_process_task", delivery_pk, retry=False)
