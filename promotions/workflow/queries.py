"""Reads of promotions for pages, the API and the commands, in a constant number of queries."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from promotions.models import Promotion


def promotion_document(promotion: Promotion) -> dict[str, Any]:
    """A promotion as `promote --json` and the API show it (a public contract)."""
    pull_request = None
    if promotion.pull_request_number is not None:
        pull_request = {"number": promotion.pull_request_number, "url": promotion.pull_request_url}
    return {
        "id": promotion.pk,
        "state": promotion.state,
        "kind": promotion.kind,
        "mode": promotion.mode,
        "from_stage": promotion.from_stage or None,
        "to_stage": promotion.to_stage,
        "applications": [
            {"name": i.application, "from": i.from_version or None, "to": i.to_version, "path": i.path}
            for i in promotion.items.all()
        ],
        "branch": promotion.pr_branch or promotion.branch,
        "commit": promotion.commit or None,
        "pull_request": pull_request,
        "error": promotion.error or None,
        "checks": promotion.checks or {},
        "blocked_by_checks": sorted(promotion.failing_checks),
    }


def promotions_query(*, application: str = "", stage: str = "", state: str = "", kind: str = "") -> QuerySet[Promotion]:
    """Newest first, filtered; items and requester fetched in bulk (slice it: pages, limits)."""
    rows = Promotion.objects.select_related("requested_by").prefetch_related("items")
    if application:
        rows = rows.filter(items__application=application).distinct()
    if stage:
        rows = rows.filter(to_stage=stage)
    if state:
        rows = rows.filter(state=state)
    if kind:
        rows = rows.filter(kind=kind)
    return rows


def promotions_list(*, application: str = "", stage: str = "", state: str = "", limit: int = 200) -> list[Promotion]:
    return list(promotions_query(application=application, stage=stage, state=state)[:limit])


def promotion_get(*, promotion_id: int) -> Promotion:
    return (
        Promotion.objects.select_related("requested_by", "superseded_by")
        .prefetch_related("items", "events")
        .get(pk=promotion_id)
    )
