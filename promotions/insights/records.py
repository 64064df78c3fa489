"""The promotion records the delivery measures are computed from: two queries, whatever the number
of promotions, applications and stages. Times come back as whole seconds since 1970, computed by
the database, so that tens of thousands of rows are never parsed into datetimes one by one."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from django.db import NotSupportedError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import (
    Case,
    Func,
    IntegerField,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.sql.compiler import SQLCompiler

from promotions.insights.query import InsightsQuery
from promotions.models import Promotion, PromotionItem

State = Promotion.State
# The states a promotion that landed in Git can be in (a failed one, only when `landed_at` says so).
# Never landed, never deployed: noop (the stage had the version already), cancelled, superseded,
# rejected, and the open states.
LANDED = (State.COMMITTED, State.MERGED, State.SYNCING, State.DEPLOYED, State.VERIFIED, State.FAILED)
# Landed and final in a stage without a cluster: nothing follows such a promotion any further.
LANDED_FINAL = (State.COMMITTED, State.MERGED)


class Epoch(Func):
    """Whole seconds since 1970 of a timestamp, computed by the database (to the second is precise
    enough for durations of minutes to days, and SQLite's `unixepoch` is the cheapest of its date
    functions: about a third of the page's time at 50,000 promotions went to `julianday`)."""

    output_field = IntegerField()
    arity = 1

    def as_sqlite(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any) -> tuple[str, Any]:
        modern = connection.Database.sqlite_version_info >= (3, 38)  # type: ignore[attr-defined]
        template = "unixepoch(%(expressions)s)" if modern else "CAST(strftime('%%%%s', %(expressions)s) AS INTEGER)"
        return self.as_sql(compiler, connection, template=template)

    def as_postgresql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any) -> tuple[str, Any]:
        return self.as_sql(compiler, connection, template="FLOOR(EXTRACT(EPOCH FROM %(expressions)s))::bigint")

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, *args: Any, **extra: Any) -> Any:
        if "template" not in extra:
            raise NotSupportedError(f"Epoch: SQLite and Postgres only, not {connection.vendor}")
        return super().as_sql(compiler, connection, *args, **extra)


class Landing(NamedTuple):
    """One application of a promotion that landed in Git (one deployment into one stage). Times in
    seconds since 1970; `done` is when it was verified (or landed, in a stage without a cluster),
    None while it is not, or when it failed."""

    promotion: int
    application: str
    version: str
    stage: str
    kind: str
    state: str
    requested: float
    landed: float
    finished: float | None
    done: float | None

    @property
    def cell(self) -> tuple[str, str]:
        return self.application, self.stage

    @property
    def failed(self) -> bool:
        return self.state == State.FAILED

    @property
    def rollback(self) -> bool:
        return self.kind == Promotion.Kind.ROLLBACK


class Arrival(NamedTuple):
    """A version of an application done in a stage for the first time (`done`), and when that version
    was first asked into the pipeline (`entered`: None when the portal never brought it in)."""

    application: str
    version: str
    stage: str
    done: float
    entered: float | None


def landings_read(*, query: InsightsQuery) -> list[Landing]:
    """Every landing into the query's stages that landed or was done from the period's start on (a
    later one tells whether an earlier was rolled back, or what restored it), oldest first."""
    since = query.period.since
    rows = (
        _items(query)
        .filter(promotion__state__in=LANDED, promotion__updated_at__gte=since, promotion__landed_at__isnull=False)
        .filter(Q(promotion__landed_at__gte=since) | Q(promotion__finished_at__gte=since))
        .annotate(requested=Epoch("promotion__created_at"), landed=Epoch("promotion__landed_at"),
                  finished=Epoch("promotion__finished_at"))
        .values_list("promotion_id", "application", "to_version", "promotion__to_stage", "promotion__kind",
                     "promotion__state", "requested", "landed", "finished")
    )  # fmt: skip
    unfollowed = query.graph.unfollowed
    ordered = sorted(rows, key=lambda row: (row[7], row[0]))  # by landing (quicker here than in SQL)
    return [
        Landing(pk, app, version, stage, kind, state, requested, landed, finished,
                done=finished if state == State.VERIFIED else landed if _final(state, stage, unfollowed) else None)
        for pk, app, version, stage, kind, state, requested, landed, finished in ordered
    ]  # fmt: skip


def arrivals_read(*, query: InsightsQuery, landings: list[Landing]) -> list[Arrival]:
    """Per application, version and stage of the query: the first time it was done there, when that is
    within the period (among `landings`, which hold every such time), and when the version was first
    asked into any stage by a promotion that landed (its entry into the pipeline: for a CI release,
    when CI reported the build). Rollbacks bring no version in: they deliver no change."""
    since, until = query.period.since.timestamp(), query.period.until.timestamp()
    first: dict[tuple[str, str, str], float] = {}
    for landing in landings:
        if landing.done is not None and since <= landing.done < until and not landing.rollback:
            key = (landing.application, landing.version, landing.stage)
            first[key] = min(first.get(key, landing.done), landing.done)  # done twice: the first time counts
    entries = _entries(query)
    arrivals = []
    for (app, version, stage), done in first.items():
        entered, earlier = entries.get((app, version), (None, frozenset()))
        if stage not in earlier:  # a version done there before the period is no change arriving now
            arrivals.append(Arrival(app, version, stage, done, entered))
    return arrivals


def _entries(query: InsightsQuery) -> dict[tuple[str, str], tuple[float | None, frozenset[str]]]:
    """For each version of an application done in the period (not by a rollback): when it entered the
    pipeline, and the stages it was done in before the period. One pass over each version's
    promotions: the stages are bits of a number, summed once each."""
    unfollowed = sorted(query.graph.unfollowed)
    bits = {stage: 1 << i for i, stage in enumerate(query.stages)}  # 62 stages fit in a 64-bit integer
    window = (
        _items(query)
        .filter(_done(unfollowed, since=query.period.since, until=query.period.until))
        .exclude(promotion__kind=Promotion.Kind.ROLLBACK)
        .values("application", "to_version")
        .annotate(one=Min("pk"))
        .values("one")
    )
    same = PromotionItem.objects.order_by().filter(
        application=OuterRef("application"), to_version=OuterRef("to_version")
    )
    entered = (
        same.filter(promotion__state__in=LANDED, promotion__landed_at__isnull=False)
        .exclude(promotion__kind=Promotion.Kind.ROLLBACK)
        .values("application").annotate(first=Epoch(Min("promotion__created_at"))).values("first")
    )  # fmt: skip
    stage_bit = Case(*(When(promotion__to_stage=stage, then=Value(bit)) for stage, bit in bits.items()), default=0)
    earlier = (
        same.filter(_done(unfollowed, until=query.period.since))
        .values("application").annotate(stages=Sum(stage_bit, distinct=True)).values("stages")
    )  # fmt: skip
    rows = (
        PromotionItem.objects.order_by()
        .filter(pk__in=Subquery(window))
        .annotate(entered=Subquery(entered, output_field=IntegerField()),
                  earlier=Subquery(earlier, output_field=IntegerField()))
        .values_list("application", "to_version", "entered", "earlier")
    )  # fmt: skip
    return {
        (app, version): (entered_at, frozenset(stage for stage, bit in bits.items() if (mask or 0) & bit))
        for app, version, entered_at, mask in rows
    }


def _done(unfollowed: list[str], *, until: datetime, since: datetime | None = None) -> Q:
    """Done (verified, or landed in a stage without a cluster) before `until`, and at `since` or after.
    A promotion's `updated_at` is never before its other times, so `updated_at >= since` changes
    nothing in the answer but lets the database search its index on (state, updated_at)."""
    verified = Q(promotion__state=State.VERIFIED, promotion__finished_at__lt=until)
    final = Q(promotion__state__in=LANDED_FINAL, promotion__to_stage__in=unfollowed, promotion__landed_at__lt=until)
    if since is not None:
        verified &= Q(promotion__updated_at__gte=since, promotion__finished_at__gte=since)
        final &= Q(promotion__updated_at__gte=since, promotion__landed_at__gte=since)
    return verified | final


def _items(query: InsightsQuery) -> QuerySet[PromotionItem]:
    items = PromotionItem.objects.order_by().filter(promotion__to_stage__in=query.stages)
    return items.filter(application=query.application) if query.application else items


def _final(state: str, stage: str, unfollowed: frozenset[str]) -> bool:
    return state in LANDED_FINAL and stage in unfollowed
