"""Delivery insights for a query: the measures (`figures`) for the scope, per stage, per application
and per week, from one read of the records (`records`): the same number of queries for ten
promotions or fifty thousand."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, TypeVar

from django.utils import timezone

from promotions.insights.figures import Change, Durations, Figures, changes_judge, figures_of
from promotions.insights.query import InsightsQuery, Period
from promotions.insights.records import Arrival, arrivals_read, landings_read

T = TypeVar("T")


@dataclass(frozen=True)
class Breakdown:
    """The measures for one stage or one application."""

    name: str
    figures: Figures


@dataclass(frozen=True)
class Week:
    """One calendar week (Monday to Monday in the portal's time zone), cut to the period."""

    start: datetime
    end: datetime
    figures: Figures


@dataclass(frozen=True)
class Insights:
    """`totals` over the query's scope; `stages`, each stage of the query on its own; `applications`,
    each application deployed or done in the scope; `weeks`, the scope week by week."""

    query: InsightsQuery
    totals: Figures
    stages: list[Breakdown]
    applications: list[Breakdown]
    weeks: list[Week]


def delivery_insights_get(*, query: InsightsQuery) -> Insights:
    """The delivery measures the query asks for (definitions: `promotions.insights.figures`)."""
    since, until = query.period.since.timestamp(), query.period.until.timestamp()
    landings = landings_read(query=query)
    changes = [c for c in changes_judge(landings) if since <= c.landing.landed < until]
    arrivals = arrivals_read(query=query, landings=landings)
    scope = set(query.scope)
    in_scope = [c for c in changes if c.landing.stage in scope]
    arrived = [a for a in arrivals if a.stage in scope]
    days = query.period.days
    stage_changes, stage_arrivals = _group(changes, lambda c: c.landing.stage), _group(arrivals, lambda a: a.stage)
    app_changes, app_arrivals = (
        _group(in_scope, lambda c: c.landing.application),
        _group(arrived, lambda a: a.application),
    )
    return Insights(
        query=query,
        totals=figures_of(changes=in_scope, arrivals=arrived, days=days),
        stages=[Breakdown(stage, figures_of(changes=stage_changes[stage], arrivals=stage_arrivals[stage], days=days))
                for stage in query.stages],
        applications=[Breakdown(app, figures_of(changes=app_changes[app], arrivals=app_arrivals[app], days=days))
                      for app in sorted(app_changes.keys() | app_arrivals.keys())],
        weeks=_weeks(query.period, in_scope, arrived),
    )  # fmt: skip


def _group(rows: Iterable[T], key: Callable[[T], str]) -> dict[str, list[T]]:
    groups: dict[str, list[T]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    return groups


def _weeks(period: Period, changes: list[Change], arrivals: list[Arrival]) -> list[Week]:
    """The period's calendar weeks, each with the changes that landed in it and the arrivals done in it."""
    bounds = week_bounds(period)
    starts = [start.timestamp() for start, _ in bounds]
    changes_in: list[list[Change]] = [[] for _ in bounds]
    arrivals_in: list[list[Arrival]] = [[] for _ in bounds]
    for change in changes:
        changes_in[bisect.bisect_right(starts, change.landing.landed) - 1].append(change)
    for arrival in arrivals:
        arrivals_in[bisect.bisect_right(starts, arrival.done) - 1].append(arrival)
    return [
        Week(start, end, figures_of(changes=changes_in[i], arrivals=arrivals_in[i],
                                    days=(end - start).total_seconds() / 86400))
        for i, (start, end) in enumerate(bounds)
    ]  # fmt: skip


def week_bounds(period: Period) -> list[tuple[datetime, datetime]]:
    """The calendar weeks the period touches, each cut to the period (the first and last may be short)."""
    local = timezone.localtime(period.since)
    monday = timezone.make_aware(datetime.combine(local.date() - timedelta(days=local.weekday()), time.min))
    bounds = []
    while monday < period.until:
        following = timezone.make_aware(datetime.combine(monday.date() + timedelta(days=7), time.min))
        bounds.append((max(monday, period.since), min(following, period.until)))
        monday = following
    return bounds


def insights_document(insights: Insights) -> dict[str, Any]:
    """The insights as the API gives them (seconds for durations, rates from 0 to 1, null for none)."""
    query = insights.query
    return {
        "period": {"since": query.period.since.isoformat(), "until": query.period.until.isoformat(),
                   "days": round(query.period.days, 3)},
        "scope": {"stages": list(query.scope), "application": query.application or None},
        "graph": {"first_stages": list(query.graph.firsts), "last_stages": list(query.graph.lasts)},
        "totals": figures_document(insights.totals),
        "stages": [{"stage": b.name} | figures_document(b.figures) for b in insights.stages],
        "applications": [{"application": b.name} | figures_document(b.figures) for b in insights.applications],
        "weeks": [{"start": w.start.isoformat(), "end": w.end.isoformat()} | figures_document(w.figures)
                  for w in insights.weeks],
    }  # fmt: skip


def figures_document(figures: Figures) -> dict[str, Any]:
    rate = figures.failure_rate
    return {
        "deployments": figures.deployments,
        "deployments_per_day": round(figures.per_day, 4),
        "deployments_per_week": round(figures.per_week, 4),
        "lead_time": _durations(figures.lead_time),
        "changes_failed": figures.failures,
        "change_failure_rate": None if rate is None else round(rate, 4),
        "time_to_restore": _durations(figures.restore) | {"unrestored": figures.unrestored},
    }


def _durations(durations: Durations) -> dict[str, Any]:
    return {"count": durations.count, "median_seconds": durations.median, "p90_seconds": durations.p90}
