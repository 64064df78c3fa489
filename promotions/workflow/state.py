"""The promotion state machine: every move is a conditional UPDATE recorded on the timeline
(the audit history) in the same transaction, and notified."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from promotions.audit.chain import audit_record
from promotions.models import AuditEvent, Promotion
from promotions.notifications.deliver import notify_transition

PR_BRANCH_PREFIX = "gitops-portal/promotion-"


def pr_branch(promotion_id: int) -> str:
    """The pull-request branch of a promotion: derived from its id, so a re-run finds it."""
    return f"{PR_BRANCH_PREFIX}{promotion_id}"


def event(promotion: Promotion, state: str, actor: str, message: str, *, before: str | None = None) -> AuditEvent:
    """A promotion's state change, on its timeline and in the audit history."""
    return audit_record(
        action=f"promotion.{state}", actor=actor, message=message, promotion=promotion,
        applications=[i.application for i in promotion.items.all()], stage=promotion.to_stage,
        targets={"promotion": promotion.pk, "repository": promotion.repository},
        before={"state": before} if before else None, after={"state": state},
    )  # fmt: skip


def transition(
    promotion: Promotion,
    to_state: str,
    *,
    expect: Sequence[str],
    actor: str,
    message: str,
    claim: str | None = None,
    **fields: Any,
) -> bool:
    """Move to `to_state` only from one of `expect` (and only for the execution holding
    `claim`, when given): a conditional UPDATE, so racing workers cannot both win."""
    with transaction.atomic():
        rows = Promotion.objects.filter(pk=promotion.pk, state__in=expect)
        if claim is not None:
            rows = rows.filter(claim=claim)
        if to_state in Promotion.TERMINAL_STATES:
            fields.setdefault("finished_at", timezone.now())
        before = promotion.state
        if not rows.update(state=to_state, updated_at=timezone.now(), **fields):
            return False
        event(promotion, to_state, actor, message, before=before)
        promotion.state = to_state
        notify_transition(promotion, to_state)
    for name, value in fields.items():
        setattr(promotion, name, value)
    promotion.state = to_state
    return True
