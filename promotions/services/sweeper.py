"""The safety net: whatever a lost message, a dead worker or a missed webhook left behind."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from promotions.errors import PortalError
from promotions.models import Promotion
from promotions.services.promotion import promotion_dispatch, transition

log = logging.getLogger(__name__)
State = Promotion.State


@dataclass
class SweepReport:
    dispatched: list[int] = field(default_factory=list)
    merged: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)


def promotions_sweep() -> SweepReport:
    """Re-send promotions that never reached a worker or whose worker died, and notice
    pull requests merged or closed on the hosting side."""
    report = SweepReport()
    stuck = timezone.now() - timedelta(seconds=settings.GITOPS_PORTAL_STUCK_SECONDS)
    lost = Promotion.objects.filter(
        Q(state=State.QUEUED, dispatched_at__isnull=True)
        | Q(state=State.QUEUED, updated_at__lt=stuck)
        | Q(state=State.PREPARING, claimed_at__lt=stuck)
    )
    for promotion_id in lost.values_list("pk", flat=True):
        if promotion_dispatch(promotion_id=promotion_id):
            report.dispatched.append(promotion_id)
    _poll_pull_requests(report)
    return report


def _poll_pull_requests(report: SweepReport) -> None:
    from promotions.config import catalog_get
    from promotions.integrations.scm import provider_for
    from promotions.matrix import git_repository

    waiting = Promotion.objects.filter(state__in=(State.PR_OPEN, State.APPROVED), pull_request_number__isnull=False)
    if not waiting.exists():
        return
    catalog = catalog_get(settings.GITOPS_PORTAL_CONFIG)
    for promotion in waiting:
        try:
            repo = catalog.repository(promotion.repository)
            if repo.provider != "github":
                continue  # local pull requests change only through the portal
            provider = provider_for(repo, git=git_repository(repo), portal_url=settings.GITOPS_PORTAL_URL)
            assert promotion.pull_request_number is not None
            pr = provider.get(number=promotion.pull_request_number)
        except (PortalError, StopIteration) as exc:
            log.warning("promotion %s: cannot poll its pull request: %s", promotion.pk, exc)
            continue
        _follow(promotion, pr.state, pr.merge_commit, report)


def _follow(promotion: Promotion, state: str, merge_commit: str | None, report: SweepReport) -> None:
    waiting = (State.PR_OPEN, State.APPROVED)
    if state == "merged":
        message = f"merged on {promotion.repository}'s hosting as {(merge_commit or '?')[:10]}"
        if transition(promotion, State.MERGED, expect=waiting, actor="system", message=message,
                      merge_commit=merge_commit or "", landed_at=timezone.now()):  # fmt: skip
            report.merged.append(promotion.pk)
    elif state == "closed":
        message = "the pull request was closed without merging"
        if transition(promotion, State.CANCELLED, expect=waiting, actor="system", message=message):
            report.closed.append(promotion.pk)
