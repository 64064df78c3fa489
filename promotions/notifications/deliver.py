"""Telling people: notifications to Slack incoming webhooks and generic JSON webhooks
(HMAC-signed), queued in the same transaction as the change, delivered by a task with
retries and backoff; each attempt is logged for admins."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import os
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from promotions.catalogue.loader import catalog_get
from promotions.catalogue.schema import NotificationConfig
from promotions.errors import PermanentError, TransientError
from promotions.models import NotificationDelivery, Promotion
from promotions.queue import task_send

log = logging.getLogger(__name__)
TIMEOUT = 10
EVENT_OF_STATE = {
    "queued": "requested",
    "pr_open": "awaiting_approval",
    "approved": "approved",
    "merged": "merged",
    "committed": "merged",
    "deployed": "deployed",
    "verified": "verified",
    "failed": "failed",
}


def notify_transition(promotion: Promotion, state: str) -> None:
    """Queue notifications for a state change (call inside the change's transaction)."""
    event = EVENT_OF_STATE.get(state)
    if event == "merged" and promotion.kind == Promotion.Kind.ROLLBACK:
        event = "rolled_back"
    if event is None:
        return
    try:
        subscriptions = catalog_get(settings.GITOPS_PORTAL_CONFIG).notifications
    except PermanentError:
        return  # a broken catalogue is reported elsewhere; the change itself goes on
    apps = [item.application for item in promotion.items.all()]
    for subscription in subscriptions:
        if subscription.wants(event, apps, promotion.to_stage):
            delivery = NotificationDelivery.objects.create(
                subscription=subscription.name, kind=subscription.kind, event=event, promotion=promotion,
                payload=_payload(event, promotion, apps),
            )  # fmt: skip
            transaction.on_commit(functools.partial(_dispatch, delivery.pk))


def _payload(event: str, promotion: Promotion, apps: list[str]) -> dict[str, Any]:
    link = f"{settings.GITOPS_PORTAL_URL.rstrip('/')}/promotions/{promotion.pk}/"
    return {
        "event": event,
        "promotion": {"id": promotion.pk, "title": promotion.title, "state": promotion.state, "kind": promotion.kind,
                      "to_stage": promotion.to_stage, "applications": apps, "url": link,
                      "requested_by": promotion.requested_by.get_username() if promotion.requested_by else None},
        "at": timezone.now().isoformat(),
    }  # fmt: skip


def _dispatch(delivery_pk: int) -> None:
    task_send("notification_deliver_task", delivery_pk, retry=False)


def notification_deliver(*, delivery_pk: int, final: bool = False) -> NotificationDelivery:
    """One attempt. TransientError (5xx, 429, network) means try again; 4xx gives up."""
    delivery = NotificationDelivery.objects.get(pk=delivery_pk)
    if delivery.status == NotificationDelivery.Status.DELIVERED:
        return delivery
    subscription = _subscription(delivery.subscription)
    delivery.attempts += 1
    try:
        delivery.response_code = _post(subscription, delivery)
    except TransientError as exc:
        delivery.last_error = str(exc)
        delivery.status = NotificationDelivery.Status.FAILED if final else NotificationDelivery.Status.PENDING
        delivery.save()
        raise
    except PermanentError as exc:
        delivery.last_error, delivery.status = str(exc), NotificationDelivery.Status.FAILED
        delivery.save()
        return delivery
    delivery.status, delivery.delivered_at, delivery.last_error = (
        NotificationDelivery.Status.DELIVERED,
        timezone.now(),
        "",
    )
    delivery.save()
    return delivery


def _subscription(name: str) -> NotificationConfig:
    for subscription in catalog_get(settings.GITOPS_PORTAL_CONFIG).notifications:
        if subscription.name == name:
            return subscription
    raise PermanentError(f"subscription {name!r} is no longer in the catalogue")


def _post(subscription: NotificationConfig, delivery: NotificationDelivery) -> int:
    url = subscription.url or os.environ.get(subscription.url_env or "", "")
    if not url:
        raise PermanentError(f"{subscription.url_env} is not set: no URL for subscription {subscription.name}")
    body, headers = _request(subscription, delivery)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        if exc.code >= 500 or exc.code == 429:
            raise TransientError(f"the receiver answered {exc.code}") from None
        raise PermanentError(f"the receiver refused it: {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise TransientError(f"cannot reach the receiver: {getattr(exc, 'reason', exc)}") from None


def _request(subscription: NotificationConfig, delivery: NotificationDelivery) -> tuple[bytes, dict[str, str]]:
    if subscription.kind == "slack":
        promotion = delivery.payload["promotion"]
        text = f"*{delivery.event.replace('_', ' ')}*: <{promotion['url']}|#{promotion['id']} {promotion['title']}>"
        return json.dumps({"text": text}).encode(), {"Content-Type": "application/json"}
    body = json.dumps(delivery.payload, sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "gitops-portal", "X-Portal-Event": delivery.event,
               "X-Portal-Delivery": str(delivery.pk)}  # fmt: skip
    secret = ""
    if subscription.secret_env:
        secret = os.environ.get(subscription.secret_env, "")
        if not secret:
            raise PermanentError(f"{subscription.secret_env} is not set: cannot sign for subscription "
                                 f"{subscription.name}")  # fmt: skip
    if secret:
        headers["X-Portal-Signature-256"] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, headers
