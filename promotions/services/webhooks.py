"""Events from Git hosting: received fast (verified, de-duplicated, stored), processed in a
task. Polling (the sweeper) stays the safety net for anything lost."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from promotions.audit import audit_record
from promotions.config import Catalog, catalog_get
from promotions.config.schema import RepositoryConfig
from promotions.models import Promotion, WebhookDelivery
from promotions.signatures import github_valid

log = logging.getLogger(__name__)
State = Promotion.State
FAILING = Promotion.FAILING_CHECK_STATES


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
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(delivery_id=delivery_id, event=event, repository=repo.name,
                                                      payload=payload)  # fmt: skip
    except IntegrityError:
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
    try:
        with transaction.atomic():
            WebhookDelivery.objects.create(delivery_id=delivery_id, event=f"{system}.command", payload={},
                                           processed_at=timezone.now())  # fmt: skip
    except IntegrityError:
        return False
    return True


def webhook_dispatch(*, delivery_pk: int) -> None:
    from promotions.tasks import webhook_process_task

    try:
        webhook_process_task.apply_async(args=[delivery_pk], retry=False)
    except Exception as exc:  # the sweeper processes it later
        log.warning("webhook delivery %s not queued: %s", delivery_pk, exc)


def webhook_process(*, delivery_pk: int) -> None:
    """Act on one stored delivery (idempotent: a processed delivery is skipped)."""
    delivery = WebhookDelivery.objects.get(pk=delivery_pk)
    if delivery.processed_at is not None:
        return
    catalog = catalog_get(settings.GITOPS_PORTAL_CONFIG)
    handler = HANDLERS.get(delivery.event)
    error = ""
    if handler is not None:
        try:
            handler(delivery.payload, delivery.repository, catalog)
        except Exception as exc:  # recorded; polling will catch up
            log.exception("webhook %s failed", delivery.delivery_id)
            error = str(exc)[:2000]
    WebhookDelivery.objects.filter(pk=delivery.pk).update(processed_at=timezone.now(), error=error)


def _on_push(payload: dict[str, Any], repository: str, catalog: Catalog) -> None:
    from promotions.services.matrix import matrix_refresh

    if payload.get("ref") == f"refs/heads/{catalog.repository(repository).branch}":
        matrix_refresh(catalog=catalog)


def _promotion_for(repository: str, number: Any) -> Promotion | None:
    return Promotion.objects.filter(repository=repository, pull_request_number=number).order_by("-pk").first()


def _on_pull_request(payload: dict[str, Any], repository: str, catalog: Catalog) -> None:
    from promotions.services.sweeper import SweepReport, _content_changed, _follow

    pr = payload.get("pull_request") or {}
    promotion = _promotion_for(repository, pr.get("number"))
    if promotion is None or promotion.state not in (State.PR_OPEN, State.APPROVED):
        return
    if payload.get("action") == "closed":
        _follow(promotion, "merged" if pr.get("merged") else "closed", pr.get("merge_commit_sha"), SweepReport())
    elif payload.get("action") == "synchronize":
        head = (pr.get("head") or {}).get("sha", "")
        if head and head != promotion.commit:
            from promotions.services.approval import approvals_evaluate

            _content_changed(promotion, head)
            approvals_evaluate(promotion=promotion, catalog=catalog)


def _on_review(payload: dict[str, Any], repository: str, catalog: Catalog) -> None:
    from promotions.services.approval import reviews_mirror

    review, pr = payload.get("review") or {}, payload.get("pull_request") or {}
    promotion = _promotion_for(repository, pr.get("number"))
    if promotion is None or payload.get("action") != "submitted":
        return
    login = str((review.get("user") or {}).get("login", ""))
    state = str(review.get("state", "")).upper()
    row = (int(review.get("id") or 0), login, state, str(review.get("body") or ""), str(review.get("commit_id") or ""))
    reviews_mirror(promotion=promotion, reviews=[row], catalog=catalog)


def _on_checks(payload: dict[str, Any], repository: str, catalog: Catalog) -> None:
    """`status` and `check_run`: a promotion whose head has failing checks is blocked (no auto-merge)."""
    run = payload.get("check_run")
    if run is not None:
        sha, name = run.get("head_sha", ""), run.get("name", "check")
        state = run.get("conclusion") or ("pending" if run.get("status") != "completed" else "success")
        description = (run.get("output") or {}).get("title") or name
    else:
        sha, name = payload.get("sha", ""), payload.get("context", "status")
        state, description = payload.get("state", "pending"), payload.get("description") or name
    for promotion in Promotion.objects.filter(
        repository=repository, commit=sha, state__in=(State.PR_OPEN, State.APPROVED)
    ):
        checks = dict(promotion.checks or {})
        checks[name] = {"state": state, "description": description}
        Promotion.objects.filter(pk=promotion.pk).update(checks=checks)
        if state in FAILING:
            audit_record(action="promotion.checks_failed", actor="github", promotion=promotion,
                         message=f"{name}: {description}", after={"check": name, "state": state})  # fmt: skip


HANDLERS = {"push": _on_push, "pull_request": _on_pull_request, "pull_request_review": _on_review,
            "status": _on_checks, "check_run": _on_checks}  # fmt: skip


def checks_failing(promotion: Promotion) -> list[str]:
    """Names of the promotion's failing checks (the pull request is blocked while any fail)."""
    promotion.checks = Promotion.objects.filter(pk=promotion.pk).values_list("checks", flat=True).first() or {}
    return list(promotion.failing_checks)
