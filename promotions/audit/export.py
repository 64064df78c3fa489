"""Reading the audit history: filters, and CSV/JSON export of exactly what is filtered."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from typing import Any

from django.db.models import QuerySet

from promotions.models import AuditEvent

AUDIT_FIELDS = ("id", "at", "actor", "source", "action", "message", "promotion", "applications", "stage",
                "targets", "before", "after", "request_id", "hash")  # fmt: skip


def audit_events(
    *, application: str = "", stage: str = "", user: str = "", action: str = "",
    since: date | None = None, until: date | None = None,
) -> QuerySet[AuditEvent]:  # fmt: skip
    """Audit events, oldest first, filtered; `action` matches a prefix (`promotion.`)."""
    rows = AuditEvent.objects.all()
    if application:
        rows = rows.filter(applications__contains=f",{application},")
    if stage:
        rows = rows.filter(stage=stage)
    if user:
        rows = rows.filter(actor=user)
    if action:
        rows = rows.filter(action__startswith=action)
    if since:
        rows = rows.filter(at__date__gte=since)
    if until:
        rows = rows.filter(at__date__lte=until)
    return rows.order_by("id")


def audit_export(rows: QuerySet[AuditEvent], *, fmt: str) -> str:
    """The events as CSV (one row each, JSON columns as text) or as a JSON array."""
    records = [audit_document(event) for event in rows.iterator(chunk_size=2000)]
    if fmt == "json":
        return json.dumps(records, indent=None) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=AUDIT_FIELDS)
    writer.writeheader()
    for record in records:
        writer.writerow({k: _csv_cell(json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in record.items()})
    return out.getvalue()


def _csv_cell(value: Any) -> Any:
    """A text that a spreadsheet would run as a formula gets a leading `'` (OWASP, CSV injection)."""
    return "'" + value if isinstance(value, str) and value.startswith(("=", "+", "-", "@", "\t", "\r")) else value


def audit_document(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.pk, "at": event.at.isoformat(), "actor": event.actor, "source": event.source,
        "action": event.action, "message": event.message, "promotion": event.promotion_id,
        "applications": [a for a in event.applications.split(",") if a], "stage": event.stage,
        "targets": event.targets, "before": event.before, "after": event.after, "request_id": event.request_id,
        "hash": event.hash,
    }  # fmt: skip
