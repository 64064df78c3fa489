"""Events from Git hosting, received fast: verified before anything is parsed, de-duplicated,
stored, and handed to a worker (`promotions.tracking.events` acts on them)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
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


def webhook_receive(*, event: str, delivery_id: str, signature: str, body: bytes) -> str:
    """Verify and store one GitHub delivery; returns what to answer. WebhookRefused for bad requests.

    The signature is checked on the raw body before anything parses it, against the secrets of
    the catalogue's GitHub repositories; only then is the body read, and its repository must be
    one whose secret signed it (so an unsigned request learns nothing about the catalogue)."""
    signed = _signed_by("github", lambda secret: github_valid(secret, body, signature), "X-Hub-Signature-256")
    payload = _payload(body)
    repository = payload.get("repository")
    full_name = str(repository.get("full_name", "")) if isinstance(repository, dict) else ""
    repo = next((r for r in signed if r.github and r.github.repo.lower() == full_name.lower()), None)
    if repo is None:
        raise WebhookRefused(404, f"no repository {full_name or '(none)'} in the catalogue signed with this secret")
    if event == "ping":
        return "pong"
    if not delivery_id:
        raise WebhookRefused(400, "missing X-GitHub-Delivery")
    return _accepted(delivery_id=delivery_id, event=event, repository=repo.name, payload=payload)


def gitlab_receive(*, event: str, delivery_id: str, token: str, body: bytes) -> str:
    """Verify and store one GitLab delivery: `X-Gitlab-Token` must be a GitLab repository's secret
    (compared in constant time, before the body is parsed) and the payload's project that repository."""
    signed = _signed_by("gitlab", lambda secret: token_valid(secret, token), "X-Gitlab-Token")
    payload = _payload(body)
    project = payload.get("project")
    path = str(project.get("path_with_namespace", "")) if isinstance(project, dict) else ""
    repo = next((r for r in signed if r.gitlab and r.gitlab.project.lower() == path.lower()), None)
    if repo is None:
        raise WebhookRefused(404, f"no project {path or '(none)'} in the catalogue with this secret")
    if not delivery_id:
        raise WebhookRefused(400, "missing X-Gitlab-Event-UUID")
    # GitLab gives every hook one request fires (a merge's merge request and push hooks) the same
    # event UUID: the event's name is part of what makes a delivery the same one again.
    return _accepted(delivery_id=f"gitlab:{event[:20]}:{delivery_id}", event=f"gitlab:{event}", repository=repo.name,
                     payload=payload)  # fmt: skip


def gitea_receive(*, event: str, delivery_id: str, signature: str, body: bytes) -> str:
    """Verify and store one Gitea or Forgejo delivery (`X-Gitea-Signature` or `X-Forgejo-Signature`:
    the body's HMAC-SHA256 with a Gitea repository's secret, checked before parsing)."""
    signed = _signed_by("gitea", lambda secret: gitea_valid(secret, body, signature), "X-Gitea-Signature")
    payload = _payload(body)
    repository = payload.get("repository")
    full_name = str(repository.get("full_name", "")) if isinstance(repository, dict) else ""
    repo = next((r for r in signed if r.gitea and r.gitea.repo.lower() == full_name.lower()), None)
    if repo is None:
        raise WebhookRefused(404, f"no repository {full_name or '(none)'} in the catalogue signed with this secret")
    if not delivery_id:
        raise WebhookRefused(400, "missing X-Gitea-Delivery")
    return _accepted(delivery_id=f"gitea:{delivery_id}", event=f"gitea:{event}", repository=repo.name,
                     payload=payload)  # fmt: skip


# The events the portal acts on; a verified delivery of any other kind is answered and dropped.
GITLAB_EVENTS = ("Merge Request Hook", "Push Hook", "Pipeline Hook", "Note Hook")
# Gitea's coarse X-Gitea-Event names (a review approval is `pull_request_approved`).
GITEA_EVENTS = ("pull_request", "pull_request_approved", "pull_request_rejected", "push", "status")


def _accepted(*, delivery_id: str, event: str, repository: str, payload: dict[str, Any]) -> str:
    host, _, kind = event.rpartition(":")
    if host and kind not in (GITLAB_EVENTS if host == "gitlab" else GITEA_EVENTS):
        return f"event {kind[:50]!r} ignored"
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
