"""Celery tasks: thin, idempotent, take an id and call one service."""

from __future__ import annotations

from django.conf import settings

from gitops_portal.celery import app
from promotions.audit.anchor import audit_anchor_write
from promotions.catalogue.loader import catalog_get
from promotions.errors import TransientError
from promotions.matrix.drafts import catalogue_draft_build
from promotions.matrix.refresh import matrix_refresh
from promotions.notifications.deliver import notification_deliver
from promotions.tracking.events import webhook_process
from promotions.tracking.sweeper import promotions_sweep
from promotions.workflow.execute import promotion_execute
from promotions.workflow.rollout import live_refresh


@app.task(acks_late=True, ignore_result=True)
def matrix_refresh_task() -> None:
    """Periodic safety net: re-read every repository (cheap when nothing changed)."""
    matrix_refresh(catalog=catalog_get(settings.GITOPS_PORTAL_CONFIG))


@app.task(acks_late=True, ignore_result=True)
def live_refresh_task() -> None:
    """Read every stage's cluster; follow landed promotions to deployed and verified."""
    live_refresh(catalog=catalog_get(settings.GITOPS_PORTAL_CONFIG))


@app.task(bind=True, acks_late=True, ignore_result=True, max_retries=8)
def promotion_execute_task(self, promotion_id: int) -> None:  # type: ignore[no-untyped-def]
    """Carry a promotion out; transient failures retry with backoff (1, 2, 4 … 60 s)."""
    try:
        promotion_execute(promotion_id=promotion_id)
    except TransientError as exc:
        raise self.retry(exc=exc, countdown=min(60, 2**self.request.retries)) from None


@app.task(acks_late=True, ignore_result=True)
def webhook_process_task(delivery_pk: int) -> None:
    """Act on one event from Git hosting (a delivery is processed once)."""
    webhook_process(delivery_pk=delivery_pk)


@app.task(bind=True, acks_late=True, ignore_result=True, max_retries=6)
def notification_deliver_task(self, delivery_pk: int) -> None:  # type: ignore[no-untyped-def]
    """Deliver one notification; failures retry after 2, 4, 8 … 64 s, then give up (logged)."""
    try:
        notification_deliver(delivery_pk=delivery_pk, final=self.request.retries >= self.max_retries)
    except TransientError as exc:
        if self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=2 ** (self.request.retries + 1)) from None


@app.task(acks_late=True, ignore_result=True)
def promotions_sweep_task() -> None:
    """Re-send lost or stalled promotions; notice pull requests merged elsewhere."""
    promotions_sweep()


@app.task(bind=True, acks_late=True, ignore_result=True, max_retries=3)
def audit_anchor_task(self) -> None:  # type: ignore[no-untyped-def]
    """Anchor the audit chain's head outside the database (skipped when it has not moved)."""
    try:
        audit_anchor_write(catalog=catalog_get(settings.GITOPS_PORTAL_CONFIG))
    except TransientError as exc:
        raise self.retry(exc=exc, countdown=60 * 2**self.request.retries) from None


@app.task(acks_late=True, ignore_result=True)
def catalogue_draft_task(draft_id: int) -> None:
    """Infer and read the catalogue of an "Add a repository" draft (once: the draft is claimed)."""
    catalogue_draft_build(draft_id=draft_id)
