"""The audit log: filters, and CSV/JSON export of exactly what is filtered."""

from __future__ import annotations

from datetime import date

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from promotions.audit.export import audit_events, audit_export

FILTERS = ("application", "stage", "user", "action", "since", "until")


@require_GET
@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    filters = {key: request.GET.get(key, "").strip() for key in FILTERS}
    problems: list[str] = []
    rows = audit_events(
        application=filters["application"], stage=filters["stage"], user=filters["user"], action=filters["action"],
        since=_date(filters["since"], "since", problems), until=_date(filters["until"], "until", problems),
    )  # fmt: skip
    fmt = request.GET.get("format")
    if fmt in ("csv", "json"):
        content_type = "text/csv" if fmt == "csv" else "application/json"
        response = HttpResponse(audit_export(rows, fmt=fmt), content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="gitops-portal-audit.{fmt}"'
        return response
    page = Paginator(rows.reverse().select_related("promotion"), 100).get_page(request.GET.get("page"))
    query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    return render(request, "promotions/audit.html", {"page": page, "filters": filters, "query": query,
                                                     "problems": problems})  # fmt: skip


def _date(value: str, name: str, problems: list[str]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append(f"{name}: expected a date like 2026-11-24, got {value!r}")
        return None
