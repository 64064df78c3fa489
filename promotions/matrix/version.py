"""A token that changes whenever what the matrix shows may have changed: the conditional GET of
`GET /api/v1/matrix` (ETag, 304) and of the dashboard's periodic update (204 when unchanged).

A constant number of small queries, whatever the number of applications: the repositories' read
states (commit, catalogue fingerprint, error), the cells' count and newest row, the live states'
count and newest change (and, once stale, their newest read), the landed rollbacks (they order
versions), the promotions not yet settled and the pins (both shown on cells). The minute is part of it,
since pages show ages ("3 days ago", "Healthy 14m ago — stale") and freezes begin and end with time.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable

from django.conf import settings
from django.db.models import Count, Max
from django.utils import timezone

from promotions.catalogue.lookups import Catalog
from promotions.cluster.observe import is_stale
from promotions.matrix.moving import unsettled_filter
from promotions.models import LiveState, Pin, Promotion, RepositoryState, StageVersion


def matrix_version(*, catalog: Catalog, cells: str | None = None, extra: Iterable[object] = ()) -> str:
    """The token for what the matrix shows now (`cells`: `cells_version`, when the caller has it;
    `extra`: what else the response depends on, such as the query string or the user, whose
    permissions decide the page's links)."""
    live = LiveState.objects.aggregate(count=Count("id"), changed=Max("changed_at"), read=Max("observed_at"))
    # A settled cluster read again changes nothing shown; once its state goes stale, its age does.
    stale = live["read"] is not None and is_stale(live["read"], timezone.now(),
                                                   settings.GITOPS_PORTAL_LIVE_REFRESH_SECONDS)  # fmt: skip
    # Promotions not yet settled show on their cells (and leave them when they settle); pins too.
    moving = Promotion.objects.filter(unsettled_filter(catalog)).aggregate(count=Count("id"), changed=Max("updated_at"))
    pins = Pin.objects.aggregate(count=Count("id"), newest=Max("promotion_id"))
    parts = (cells or cells_version(catalog=catalog), live["count"], live["changed"], stale and live["read"],
             moving, pins, int(time.time() // 60), *extra)  # fmt: skip
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:20]


def cells_version(*, catalog: Catalog) -> str:
    """The token for the cells and their relations alone (what Git declares, and the landed rollbacks
    that order versions): the key of what is worked out from them once for everyone."""
    repositories = list(
        RepositoryState.objects.order_by("name").values_list("name", "commit", "fingerprint", "error", "read_at")
    )
    landed = (*Promotion.ROLLOUT_STATES, Promotion.State.VERIFIED)
    rollbacks = Promotion.objects.filter(kind=Promotion.Kind.ROLLBACK, state__in=landed).aggregate(
        count=Count("id"), newest=Max("pk")
    )
    # The rows themselves, cheaply: a refresh replaces them (new ids) or updates a few (a new commit
    # above); this also catches cells written some other way (an import, a test).
    cells = StageVersion.objects.aggregate(count=Count("id"), newest=Max("id"))
    parts = (catalog.fingerprint, repositories, rollbacks, cells)
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:20]


def etag_matches(header: str, version: str) -> bool:
    """Whether an If-None-Match header names `version` (weak or strong, in a list, or `*`)."""
    tags = [tag.strip().removeprefix("W/").strip('"') for tag in header.split(",")]
    return "*" in tags or version in tags
