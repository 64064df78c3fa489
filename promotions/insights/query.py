"""What a request for delivery insights asks: a period, the stages and application it is about,
and the stage graph the measures follow. Both the page and the API go through `insights_query`,
so both refuse the same things with the same words, each naming the field at fault."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.utils import timezone

from promotions.catalogue.lookups import Catalog
from promotions.errors import PortalError
from promotions.text import text_problem

DEFAULT_DAYS = 30
# Two years of weekly bars still read as a chart; beyond that, ask for another period.
MAX_DAYS = 730
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DAYS = re.compile(r"[0-9]{1,4}")


class InsightsQueryError(PortalError):
    """A request the insights cannot answer, with the query parameter at fault."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class Period:
    """From `since` (included) to `until` (excluded), both aware."""

    since: datetime
    until: datetime

    @property
    def days(self) -> float:
        return (self.until - self.since).total_seconds() / 86400


@dataclass(frozen=True)
class StageGraph:
    """The catalogue's stages in graph order, where releases enter (`firsts`) and end (`lasts`), and
    the stages without a cluster, where a landed promotion is final (nothing follows it further)."""

    order: tuple[str, ...]
    firsts: tuple[str, ...]
    lasts: tuple[str, ...]
    unfollowed: frozenset[str]

    @classmethod
    def of(cls, catalog: Catalog) -> StageGraph:
        order = tuple(catalog.stage_names)
        upstream = {u for stage in order for u in catalog.upstreams(stage)}
        return cls(
            order=order,
            firsts=tuple(s for s in order if not catalog.upstreams(s)),
            lasts=tuple(s for s in order if s not in upstream),
            unfollowed=frozenset(s.name for s in catalog.stages if s.cluster is None),
        )


@dataclass(frozen=True)
class InsightsQuery:
    """The period; `scope`, the stages the headline figures and the per-application and weekly
    figures are about (the graph's last stages, or the one stage asked for); `stages`, those broken
    down one by one; `application`, the one application asked for ('' for all)."""

    period: Period
    graph: StageGraph
    scope: tuple[str, ...]
    stages: tuple[str, ...]
    application: str = ""


def insights_query(
    *,
    catalog: Catalog,
    now: datetime,
    days: int | None = None,
    since: date | None = None,
    until: date | None = None,
    stage: str = "",
    application: str = "",
) -> InsightsQuery:
    """The query for typed parameters (the API's, checked by its serializer): InsightsQueryError
    for a period that cannot be or a stage the catalogue does not have."""
    graph = StageGraph.of(catalog)
    if stage and stage not in graph.order:
        raise InsightsQueryError("stage", f"no stage named {stage!r}; the stages are {', '.join(graph.order)}")
    if problem := text_problem(application):
        raise InsightsQueryError("application", problem)
    return InsightsQuery(
        period=period_resolve(days=days, since=since, until=until, now=now),
        graph=graph,
        scope=(stage,) if stage else graph.lasts,
        stages=(stage,) if stage else graph.order,
        application=application,
    )


def insights_query_from_text(
    *, catalog: Catalog, now: datetime, days: str = "", since: str = "", until: str = "", stage: str = "",
    application: str = "",
) -> InsightsQuery:  # fmt: skip
    """The query for parameters as a form sends them (strings, '' when absent)."""
    if days and not (_DAYS.fullmatch(days)):
        raise InsightsQueryError("days", f"expected a whole number of days from 1 to {MAX_DAYS}, got {days!r}")
    return insights_query(
        catalog=catalog, now=now, days=int(days) if days else None, since=_date(since, "since"),
        until=_date(until, "until"), stage=stage, application=application,
    )  # fmt: skip


def period_resolve(*, days: int | None, since: date | None, until: date | None, now: datetime) -> Period:
    """The period asked for: the last `days` days up to now (default 30), or whole days from `since`
    to `until` included (in the portal's time zone; `until` defaults to today, `since` to 30 days
    before `until`). A period never reaches past now: the days to come hold no deployments yet and
    would only lower the frequency."""
    now = now.replace(microsecond=0)  # whole seconds, as the records' times are: a bound then cuts exactly
    if days is not None and (since or until):
        raise InsightsQueryError("days", "give either days or since/until, not both")
    if days is not None and not 1 <= days <= MAX_DAYS:
        raise InsightsQueryError("days", f"expected a whole number of days from 1 to {MAX_DAYS}, got {days}")
    if since is None and until is None:
        return Period(since=now - timedelta(days=days or DEFAULT_DAYS), until=now)
    # A day after the last: compared as dates first, so that 9999-12-31 is simply "now".
    end = _midnight(until + timedelta(days=1)) if until and until < timezone.localdate(now) else now
    start = _midnight(since) if since else _midnight(timezone.localdate(end - timedelta(days=DEFAULT_DAYS)))
    if start >= now:
        raise InsightsQueryError("since", f"{since} is not in the past yet")
    if start >= end:
        raise InsightsQueryError("since", f"{since} is after until ({until})")
    if (end - start).days > MAX_DAYS:  # whole days: a change to summer time adds an hour
        raise InsightsQueryError(
            "since", f"the period from {since} to {until or 'today'} is longer than {MAX_DAYS} days"
        )
    return Period(since=start, until=end)


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _date(value: str, field: str) -> date | None:
    if not value:
        return None
    try:
        if _DATE.fullmatch(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise InsightsQueryError(field, f"expected a date like 2026-11-24, got {value!r}")
