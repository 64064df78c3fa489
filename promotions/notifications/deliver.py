"""Telling people: notifications to Slack incoming webhooks and generic JSON webhooks
(HMAC-signed), queued in the same transaction as the change, delivered by a task with
retries and backoff; each attempt is logged for admins.

The same machinery asks a stage's GitOps operator to sync once a change lands there (a Flux
receiver or Argo CD's webhook, `notifications.receivers`): one delivery per landed change."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from promotions.catalogue.loader import catalog_get
from promotions.catalogue.lookups import Catalog
from promotions.catalogue.schema import NotificationConfig
from promotions.errors import PermanentError, TransientError
from promotions.links import promotion_link
from promotions.models import NotificationDelivery, Promotion
from promotions.notifications import receivers
from promotions.notifications.receivers import OperatorReceiver
from promotions.queue import task_send

log = logging.getLogger(__name__)
TIMEOUT = 10
Target = NotificationConfig | OperatorReceiver  # where a delivery goes: a subscription or an operator
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
        catalog = catalog_get(settings.GITOPS_PORTAL_CONFIG)
    except PermanentError:
        return  # a broken catalogue is reported elsewhere; the change itself goes on
    apps = [item.application for item in promotion.items.all()]
    for subscription in catalog.notifications:
        if subscription.wants(event, apps, promotion.to_stage):
            delivery = NotificationDelivery.objects.create(
                subscription=subscription.name, kind=subscription.kind, event=event, promotion=promotion,
                payload=_payload(event, promotion, apps),
            )  # fmt: skip
            transaction.on_commit(functools.partial(_dispatch, delivery.pk))
    if state in receivers.LANDED_STATES:
        _sync_queue(promotion, catalog)


def _sync_queue(promotion: Promotion, catalog: Catalog) -> None:
    """Ask the stage's operator to sync the landed change now, when the stage has a receiver:
    one call per promotion (the transition to a landed state happens once; a re-run queues nothing)."""
    target = receivers.stage_receiver(catalog, promotion.to_stage)
    if target is None:
        return
    subscription = receivers.subscription_name(promotion.to_stage)
    if NotificationDelivery.objects.filter(promotion=promotion, subscription=subscription,
                                           event=receivers.EVENT).exists():  # fmt: skip
        return
    delivery = NotificationDelivery.objects.create(
        subscription=subscription, kind=target.kind, event=receivers.EVENT, promotion=promotion,
        payload=receivers.sync_payload(promotion, target),
    )  # fmt: skip
    transaction.on_commit(functools.partial(_dispatch, delivery.pk))


def _payload(event: str, promotion: Promotion, apps: list[str]) -> dict[str, Any]:
    link = promotion_link(promotion.pk)
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
    delivery = NotificationDelivery.objects.select_related("promotion").get(pk=delivery_pk)
    if delivery.status == NotificationDelivery.Status.DELIVERED:
        return delivery
    failed_before = delivery.status == NotificationDelivery.Status.FAILED
    delivery.attempts += 1
    target: Target | None = None
    try:
        target = _target(delivery)
        delivery.response_code = _post(target, delivery)
    except TransientError as exc:
        delivery.last_error = str(exc)
        delivery.status = NotificationDelivery.Status.FAILED if final else NotificationDelivery.Status.PENDING
        _attempt_save(delivery, target, failed_before)
        raise
    except PermanentError as exc:
        delivery.last_error, delivery.status = str(exc), NotificationDelivery.Status.FAILED
        _attempt_save(delivery, target, failed_before)
        return delivery
    delivery.status, delivery.delivered_at, delivery.last_error = (
        NotificationDelivery.Status.DELIVERED,
        timezone.now(),
        "",
    )
    _attempt_save(delivery, target, failed_before)
    return delivery


def _target(delivery: NotificationDelivery) -> Target:
    if delivery.kind in receivers.RECEIVER_KINDS:
        return receivers.delivery_receiver(catalog_get(settings.GITOPS_PORTAL_CONFIG), delivery)
    return _subscription(delivery.subscription)


def _attempt_save(delivery: NotificationDelivery, target: Target | None, failed_before: bool) -> None:
    """Store the attempt. A call to an operator also goes on the promotion's timeline once it is
    settled (delivered, or given up on; a failure once), in the same transaction."""
    settled = delivery.status != NotificationDelivery.Status.PENDING
    failed_again = failed_before and delivery.status == NotificationDelivery.Status.FAILED
    with transaction.atomic():
        delivery.save()
        if delivery.kind not in receivers.RECEIVER_KINDS or not settled or failed_again:
            return
        shown = _shown(target)
        receivers.sync_recorded(delivery, shown)
    stage = delivery.payload.get("stage")
    if delivery.last_error:
        log.warning("promotion %s: could not ask the operator of %s to sync (%s): %s", delivery.promotion_id, stage,
                    shown or "no URL", delivery.last_error)  # fmt: skip
    else:
        log.info("promotion %s: asked the operator of %s to sync (%s)", delivery.promotion_id, stage, shown)


def _shown(target: Target | None) -> str:
    """All of a receiver's URL that may be shown: its scheme and host ('' when it has none)."""
    if not isinstance(target, OperatorReceiver):
        return ""
    url = os.environ.get(target.url_env, "")
    return receivers.origin(url) if url else ""


def _subscription(name: str) -> NotificationConfig:
    for subscription in catalog_get(settings.GITOPS_PORTAL_CONFIG).notifications:
        if subscription.name == name:
            return subscription
    raise PermanentError(f"subscription {name!r} is no longer in the catalogue")


def _named(target: Target) -> str:
    return target.described if isinstance(target, OperatorReceiver) else f"subscription {target.name}"


def _url(target: Target) -> str:
    """The URL to post to: a secret when it comes from the environment (never shown or stored)."""
    url = target.url or os.environ.get(target.url_env or "", "")
    if not url:
        raise PermanentError(f"{target.url_env} is not set: no URL for {_named(target)}")
    try:
        scheme = urllib.parse.urlsplit(url).scheme
    except ValueError:
        scheme = ""
    if scheme not in ("http", "https"):  # the text of a URL from the environment is a secret: not repeated
        raise PermanentError(f"{target.url_env or 'the URL'} does not hold an http(s) URL for {_named(target)}")
    return url


def _post(target: Target, delivery: NotificationDelivery) -> int:
    url = _url(target)
    body, headers = _request(target, delivery)
    try:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        if exc.code >= 500 or exc.code == 429:
            raise TransientError(f"the receiver answered {exc.code}") from None
        hint = receivers.refusal_hint(target, exc.code) if isinstance(target, OperatorReceiver) else ""
        raise PermanentError(f"the receiver refused it: {exc.code}{hint}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise TransientError(f"cannot reach the receiver: {getattr(exc, 'reason', exc)}") from None
    except ValueError:  # an unusable URL (its text is a secret: not repeated)
        raise PermanentError(f"{target.url_env or 'the URL'} does not hold a usable URL for {_named(target)}") from None


def _request(target: Target, delivery: NotificationDelivery) -> tuple[bytes, dict[str, str]]:
    if isinstance(target, OperatorReceiver):
        return receivers.receiver_request(target, delivery, _secret(target))
    if target.kind == "slack":
        promotion = delivery.payload["promotion"]
        text = f"*{delivery.event.replace('_', ' ')}*: <{promotion['url']}|#{promotion['id']} {promotion['title']}>"
        return json.dumps({"text": text}).encode(), {"Content-Type": "application/json"}
    body = json.dumps(delivery.payload, sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "gitops-portal", "X-Portal-Event": delivery.event,
               "X-Portal-Delivery": str(delivery.pk)}  # fmt: skip
    secret = _secret(target)
    if secret:
        headers["X-Portal-Signature-256"] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, headers


def _secret(target: Target) -> str:
    """The signing secret ('' when none is configured); configured but unset is an error."""
    if not target.secret_env:
        return ""
    secret = os.environ.get(target.secret_env, "")
    if not secret:
        raise PermanentError(f"{target.secret_env} is not set: cannot sign for {_named(target)}")
    return secret
