"""Checks reported by the Git host (GitHub statuses and check runs, GitLab pipelines, Gitea commit
statuses), recorded on the promotions whose pull request head they are about."""

from __future__ import annotations

from promotions.audit.chain import audit_record
from promotions.models import Promotion

State = Promotion.State
FAILING = Promotion.FAILING_CHECK_STATES


def check_record(*, repository: str, sha: str, name: str, state: str, description: str, host: str) -> None:
    """One check's state on a commit: promotions waiting with that head record it (failing blocks)."""
    for promotion in Promotion.objects.filter(
        repository=repository, commit=sha, state__in=(State.PR_OPEN, State.APPROVED)
    ):
        checks = dict(promotion.checks or {})
        checks[name] = {"state": state, "description": description}
        Promotion.objects.filter(pk=promotion.pk).update(checks=checks)
        if state in FAILING:
            audit_record(action="promotion.checks_failed", actor=host, promotion=promotion,
                         message=f"{name}: {description}", after={"check": name, "state": state})  # fmt: skip
