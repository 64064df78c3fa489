"""Events from Git hosting, received fast: verified before anything is parsed, de-duplicated,
stored, and handed to a worker (`promotions.tracking.events` acts on them)."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from promotions.catalogue.loader import catalog_get
from promotions.catalogue.lookups import Catalog
from promotions.catalogue.schema import RepositoryConfig
from promotions.inbound.signatures import github_valid
from promotions.models import WebhookDelivery
from promotions.queue import task_send


class WebhookRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


def webhook_receive(*, event: str, delivery_id: str, signature: str, body: bytes) -> str:
    """Verify and store one delivery; returns what to answer. WebhookRefused for bad requests.

    The signature is checked on the raw body before anything parses it, against the secrets of
    the catalogue's GitHub repositories; only then is the body read, and its repository must be
    one whose secret signed it (so an unsigned request learns nothing about the catalogue)."""
    catalog = catalog_get(settings.GITOPS_PORTAL_CONFIG)
    signed = _signed_by(catalog, body, signature)
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
    delivery = _stored_once(delivery_id=delivery_id, event=event, repository=repo.name, payload=payload)
    if delivery is None:
        return "duplicate delivery ignored"
    transaction.on_commit(lambda: webhook_dispatch(delivery_pk=delivery.pk))
    return "accepted"


def _signed_by(catalog: Catalog, body: bytes, signature: str) -> list[RepositoryConfig]:
    """The GitHub repositories whose webhook secret produced `signature` for `body`."""
    github = [repo for repo in catalog.repositories if repo.github]
    secrets = {repo.webhook_secret_env: os.environ.get(repo.webhook_secret_env, "") for repo in github}
    if not any(secrets.values()):
        names = ", ".join(sorted(secrets)) or "GITHUB_WEBHOOK_SECRET"
        raise WebhookRefused(503, f"no webhook secret configured (set {names})")
    valid = {env for env, secret in secrets.items() if secret and github_valid(secret, body, signature)}
    if not valid:
        raise WebhookRefused(401, "bad signature (X-Hub-Signature-256)")
    return [repo for repo in github if repo.webhook_secret_env in valid]


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
