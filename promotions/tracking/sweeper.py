"""The safety net: whatever a lost message, a dead worker or a missed webhook left behind."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from promotions.errors import PortalError
from promotions.models import Promotion, WebhookDelivery
from promotions.queue import task_send
from promotions.tracking.pull_requests import pull_request_poll
from promotions.workflow.request import promotion_dispatch

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
    _unprocessed_webhooks()
    _poll_pull_requests(report)
    return report


def _unprocessed_webhooks() -> None:
    """Deliveries stored while the task queue was away."""
    late = timezone.now() - timedelta(seconds=60)
    for pk in WebhookDelivery.objects.filter(processed_at__isnull=True, received_at__lt=late).values_list(
        "pk", flat=True
    ):
        task_send("webhook_process_task", pk, retry=False)


def _poll_pull_requests(report: SweepReport) -> None:
    """Open pull requests: merged or closed on the hosting side, pushed to (which voids
    earlier approvals), or reviewed there (GitHub reviews count like portal approvals)."""
    from promotions.catalogue.connect import git_repository, provider_for
    from promotions.catalogue.loader import catalog_get

    waiting = Promotion.objects.filter(state__in=(State.PR_OPEN, State.APPROVED), pull_request_number__isnull=False)
    if not waiting.exists():
        return
    catalog = catalog_get(settings.GITOPS_PORTAL_CONFIG)
    for promotion in waiting:
        try:
            repo = catalog.repository(promotion.repository)
            provider = provider_for(repo, git=git_repository(repo), portal_url=settings.GITOPS_PORTAL_URL)
            ended = pull_request_poll(promotion=promotion, provider=provider, catalog=catalog)
            if ended:
                (report.merged if ended == "merged" else report.closed).append(promotion.pk)
        except (PortalError, StopIteration) as exc:
            log.warning("promotion %s: cannot poll its pull request: %s", promotion.pk, exc)
