"""Acting on stored events from Git hosting (in a task). Polling (the sweeper) stays the safety
net for anything lost."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from django.conf import settings
from django.utils import timezone

from promotions.catalogue.loader import catalog_get
from promotions.catalogue.lookups import Catalog
from promotions.models import Promotion, WebhookDelivery
from promotions.tracking.checks import check_record
from promotions.tracking.hosts import host_event
from promotions.tracking.pull_requests import pull_request_changed, pull_request_ended

log = logging.getLogger(__name__)


State = Promotion.State


def webhook_process(*, delivery_pk: int) -> None:
    """Act on one stored delivery (idempotent: a processed delivery is skipped)."""
    delivery = WebhookDelivery.objects.get(pk=delivery_pk)
    if delivery.processed_at is not None:
        return
    catalog = catalog_get(settings.GITOPS_PORTAL_CONFIG)
    handler = HANDLERS.get(delivery.event)
    if delivery.event.startswith(("gitlab:", "gitea:")):
        handler = partial(_on_host_event, delivery.event)
    error = ""
    if handler is not None:
        try:
            handler(delivery.payload, delivery.repository, catalog)
        except Exception as exc:  # recorded; polling will catch up
            log.exception("webhook %s failed", delivery.delivery_id)
            error = str(exc)[:2000]
    WebhookDelivery.objects.filter(pk=delivery.pk).update(processed_at=timezone.now(), error=error)


def _on_push(payload: dict[str, Any], repository: str, catalog: Catalog) -> None:
    from promotions.matrix.refresh import matrix_refresh

    if payload.get("ref") == f"refs/heads/{catalog.repository(repository).branch}":
        matrix_refresh(catalog=catalog, repositories=[repository])


def _promotion_for(repository: str, number: Any) -> Promotion | None:
    return Promotion.objects.filter(repository=repository, pull_request_number=number).order_by("-pk").first()


def _on_pull_request(payload: dict[str, Any], repository: str, catalog: Catalog) -> None:
    pr = payload.get("pull_request") or {}
    promotion = _promotion_for(repository, pr.get("number"))
    if promotion is None or promotion.state not in (State.PR_OPEN, State.APPROVED):
        return
    if payload.get("action") == "closed":
        state = "merged" if pr.get("merged") else "closed"
        pull_request_ended(promotion=promotion, state=state, merge_commit=pr.get("merge_commit_sha"))
    elif payload.get("action") == "synchronize":
        head = (pr.get("head") or {}).get("sha", "")
        if head and head != promotion.commit:
            from promotions.reviews.approvals import approvals_evaluate

            pull_request_changed(promotion=promotion, head=head)
            approvals_evaluate(promotion=promotion, catalog=catalog)


def _on_review(payload: dict[str, Any], repository: str, catalog: Catalog) -> None:
    from promotions.reviews.approvals import reviews_mirror

    review, pr = payload.get("review") or {}, payload.get("pull_request") or {}
    promotion = _promotion_for(repository, pr.get("number"))
    if promotion is None or payload.get("action") not in ("submitted", "dismissed"):
        return
    login = str((review.get("user") or {}).get("login", ""))
    state = "DISMISSED" if payload.get("action") == "dismissed" else str(review.get("state", "")).upper()
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
    check_record(repository=repository, sha=str(sha), name=str(name), state=str(state), description=str(description),
                 host="github")  # fmt: skip


def _on_host_event(event: str, payload: dict[str, Any], repository: str, catalog: Catalog) -> None:
    host_event(event=event, payload=payload, repository=repository, catalog=catalog)


HANDLERS = {"push": _on_push, "pull_request": _on_pull_request, "pull_request_review": _on_review,
            "status": _on_checks, "check_run": _on_checks}  # fmt: skip
