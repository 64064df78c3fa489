"""Whether each source the portal reads (a repository's Git host, a stage's cluster API, a stage's
GitOps operator) answered at the last attempt, and since when: one row per source, so that an
outage is one fact (and one alert), not a reason repeated in every cell behind it."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from promotions.models import SourceStatus


@transaction.atomic
def source_status_record(kind: str, name: str, *, up: bool, reason: str, now: datetime) -> None:
    """Record one attempt to read a source; `since` moves only when it goes up or down."""
    rows = list(SourceStatus.objects.select_for_update().filter(kind=kind, name=name))
    row = rows[0] if rows else None
    if row is None:
        SourceStatus.objects.create(kind=kind, name=name, up=up, reason=reason, checked_at=now, since=now)
        return
    since = row.since if row.up == up else now
    SourceStatus.objects.filter(pk=row.pk).update(up=up, reason=reason, checked_at=now, since=since)
