"""The delivery insights page: the DORA measures for a period, per stage and per application, and the
weekly trend as an SVG drawn on the server."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from promotions.catalogue.lookups import Catalog
from promotions.insights.chart import weekly_chart
from promotions.insights.delivery import Insights, Week, delivery_insights_get
from promotions.insights.figures import Figures
from promotions.insights.query import DEFAULT_DAYS, MAX_DAYS, InsightsQueryError, insights_query_from_text
from promotions.web.htmx import HtmxHttpRequest
from promotions.web.views.base import with_catalog

FILTERS = ("days", "since", "until", "stage", "application")


@require_GET
@login_required
@with_catalog
def insights_page(request: HtmxHttpRequest, catalog: Catalog) -> HttpResponse:
    filters = {key: request.GET.get(key, "").strip() for key in FILTERS}
    context: dict[str, object] = {"filters": filters, "stages": catalog.stage_names, "default_days": DEFAULT_DAYS,
                                  "max_days": MAX_DAYS}  # fmt: skip
    try:
        query = insights_query_from_text(catalog=catalog, now=timezone.now(), **filters)
    except InsightsQueryError as exc:
        return render(request, "promotions/insights.html", context | {"problem": exc}, status=400)
    insights = delivery_insights_get(query=query)
    return render(request, "promotions/insights.html", context | _tables(insights))


def _tables(insights: Insights) -> dict[str, object]:
    return {
        "insights": insights,
        "chart": weekly_chart(insights.weeks),
        "weeks": [_row(_week(week), week.figures) for week in insights.weeks],
        "stages_rows": [_row(row.name, row.figures) for row in insights.stages],
        "applications": [_row(row.name, row.figures) for row in insights.applications],
    }


def _week(week: Week) -> str:
    """A week by its first day; one the period cuts short says how long it is (its count is not a week's)."""
    days = week.figures.days
    return f"{week.start:%Y-%m-%d}" + (f" ({days:.1f} days)" if days < 7 else "")


def _row(name: str, figures: Figures) -> dict[str, str]:
    """One row of the insights tables, each measure in words (a thousand applications make a thousand
    rows: words made here cost a fraction of the same made by template tags)."""
    lead, restore, rate = figures.lead_time, figures.restore, figures.failure_rate
    unrestored = f" · {figures.unrestored} not restored" if figures.unrestored else ""
    return {
        "name": name,
        "deployments": str(figures.deployments),
        "per_week": f"{figures.per_week:.1f}",
        "lead_time": f"{lead.median_words} · p90 {lead.p90_words} · {lead.count}" if lead.count else "—",
        "failed": "no deployments"
        if rate is None
        else f"{rate * 100:.0f} % · {figures.failures} of {figures.deployments}",
        "restore": (f"{restore.median_words} · p90 {restore.p90_words}" if restore.count else "—") + unrestored,
    }
