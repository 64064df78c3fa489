"""The reads behind `/metrics`: one query each, whatever the number of applications, cells
and promotions (aggregated in the database, or returning only the rows that become series)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from django.db import NotSupportedError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce
from django.db.models.lookups import Exact
from django.db.models.sql.compiler import SQLCompiler

from promotions.models import LiveState, Promotion, PromotionItem, SourceStatus, StageVersion

State = Promotion.State

# A phase is observed once both of its ends are set, and never changes after: the histograms
# only grow (as Prometheus expects of a histogram) while promotions are kept.
PHASES: dict[str, tuple[str, str, Q]] = {
    "requested_to_landed": ("created_at", "landed_at", Q()),
    "landed_to_applied": ("landed_at", "applied_at", Q()),
    "applied_to_deployed": ("applied_at", "deployed_at", Q()),
    "landed_to_deployed": ("landed_at", "deployed_at", Q()),
    "deployed_to_verified": ("deployed_at", "finished_at", Q(state=State.VERIFIED)),
}
# Seconds: a commit lands in seconds, an approval may take days.
BUCKETS = (10, 30, 60, 120, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400)

# Waiting on someone or something: the open states, and landed ones the cluster has not finished.
WAITING_STATES = (*Promotion.OPEN_STATES, State.SYNCING, State.DEPLOYED)
# A later promotion into the cell in one of these clears an earlier failure.
SUCCEEDED_STATES = (State.COMMITTED, State.MERGED, State.DEPLOYED, State.VERIFIED)


class Seconds(Func):
    """Seconds from one timestamp column to another in the database's own arithmetic (Django's
    duration arithmetic calls back into Python for every row on SQLite). SQLite's is rounded to
    the millisecond, so that a bucket's bound is not missed by a floating-point hair."""

    output_field = FloatField()
    arity = 2

    def _seconds(self, compiler: SQLCompiler, template: str) -> tuple[str, list[Any]]:
        (start, start_params), (end, end_params) = (compiler.compile(e) for e in self.get_source_expressions())
        return template.format(start=start, end=end), [*start_params, *end_params]

    def as_sqlite(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any) -> tuple[str, list[Any]]:
        return self._seconds(compiler, "ROUND((julianday({end}) - julianday({start})) * 86400.0, 3)")

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, list[Any]]:
        return self._seconds(compiler, "date_part('epoch', {end} - {start})")

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, *args: Any, **extra: Any) -> Any:
        raise NotSupportedError(f"Seconds: SQLite and Postgres only, not {connection.vendor}")


@dataclass(frozen=True)
class PhaseHistogram:
    """Durations of one phase for promotions into one stage: cumulative counts per bucket."""

    stage: str
    phase: str
    buckets: list[tuple[float, int]]
    count: int
    sum_seconds: float


def promotion_counts() -> list[dict[str, Any]]:
    """How many promotions there are per target stage, kind and state."""
    rows = Promotion.objects.order_by().values("to_stage", "kind", "state").annotate(n=Count("pk"))
    return list(rows.order_by("to_stage", "kind", "state"))


def phase_histograms() -> list[PhaseHistogram]:
    """Per stage and phase, how many promotions took at most each bucket's seconds (one query:
    a conditional count per bucket)."""
    durations = {f"d_{phase}": Seconds(start, end) for phase, (start, end, _) in PHASES.items()}
    aggregates: dict[str, Any] = {}
    for phase, (start, end, which) in PHASES.items():
        done = Q(**{f"{start}__isnull": False, f"{end}__isnull": False}) & which
        aggregates[f"{phase}_count"] = Count("pk", filter=done)
        aggregates[f"{phase}_sum"] = Sum(f"d_{phase}", filter=done)
        for n, bound in enumerate(BUCKETS):
            aggregates[f"{phase}_le{n}"] = Count("pk", filter=done & Q(**{f"d_{phase}__lte": bound}))
    rows = Promotion.objects.order_by().alias(**durations).values("to_stage").annotate(**aggregates)
    return [_histogram(row, phase) for row in rows.order_by("to_stage") for phase in PHASES]


def _histogram(row: dict[str, Any], phase: str) -> PhaseHistogram:
    return PhaseHistogram(
        stage=row["to_stage"], phase=phase, count=row[f"{phase}_count"],
        buckets=[(float(bound), row[f"{phase}_le{n}"]) for n, bound in enumerate(BUCKETS)],
        sum_seconds=round(row[f"{phase}_sum"] or 0.0, 3),
    )  # fmt: skip


def waiting_items() -> list[dict[str, Any]]:
    """Every application of a promotion that waits: open, or landed and not yet running healthy
    (committed or merged ones only while the cell's operator has not applied them: in a stage
    without a cluster those states are final)."""
    operator = LiveState.objects.filter(
        application=OuterRef("application"), stage=OuterRef("promotion__to_stage")
    ).exclude(operator={})
    unapplied = Q(promotion__state__in=(State.COMMITTED, State.MERGED), promotion__applied_at__isnull=True,
                  has_operator=True)  # fmt: skip
    rows = (
        PromotionItem.objects.order_by()
        .annotate(has_operator=Exists(operator))
        .filter(Q(promotion__state__in=WAITING_STATES) | unapplied)
        .values(
            "application",
            "promotion_id",
            "has_operator",
            stage=F("promotion__to_stage"),
            state=F("promotion__state"),
            repository=F("promotion__repository"),
            checks=F("promotion__checks"),
            applied_at=F("promotion__applied_at"),
            updated_at=F("promotion__updated_at"),
        )
    )
    return list(rows.order_by("promotion_id", "application"))


def _cells() -> QuerySet[Any]:
    """Every cell with live state, and whether what Git declares, what the operator applied (when
    the stage has one) and what runs agree; "unknown" when Git declares no version there. One
    subquery per cell, into its StageVersion row."""
    # What the live read alone tells: one version runs, and the stage's operator (if any) applied.
    settled = Q(running_second__isnull=True) & (Q(operator={}) | Q(operator__verdict="applied"))
    agrees = Q(version=OuterRef("running_first")) & Q(Exact(OuterRef("settled"), True))
    verdict = (
        _declared()
        .filter(version__isnull=False)
        .annotate(agreement=Case(When(agrees, then=Value("agree")), default=Value("disagree")))
        .values("agreement")[:1]
    )
    return (
        LiveState.objects.order_by()
        .annotate(running_first=KT("versions__0"), running_second=KT("versions__1"))
        .annotate(settled=ExpressionWrapper(settled, output_field=BooleanField()))
        .annotate(agreement=Coalesce(Subquery(verdict), Value("unknown")))
    )


def _declared() -> QuerySet[StageVersion]:
    """The outer cell's StageVersion row."""
    return StageVersion.objects.order_by().filter(application=OuterRef("application"), stage=OuterRef("stage"))


def cell_counts() -> list[dict[str, Any]]:
    """How many cells agree, disagree or cannot be judged, per stage."""
    rows = _cells().values("stage", "agreement").annotate(n=Count("pk"))
    return list(rows.order_by("stage", "agreement"))


def cells_disagreeing() -> list[dict[str, Any]]:
    """The cells whose declared, applied and running versions disagree, with the operator's word."""
    rows = (
        _cells()
        .filter(agreement="disagree")
        .annotate(
            declared=Subquery(_declared().values("version")[:1]),
            repository=Subquery(_declared().values("repository")[:1]),
        )
        .values("application", "stage", "repository", "declared", "versions", "operator", "drift_since")
    )
    return list(rows.order_by("stage", "application"))


def cells_failed() -> list[dict[str, Any]]:
    """Per cell, its latest failed promotion unless a later one into the cell has succeeded (one
    row per application of such a promotion)."""
    later = PromotionItem.objects.filter(
        application=OuterRef("application"),
        promotion__to_stage=OuterRef("promotion__to_stage"),
        promotion_id__gt=OuterRef("promotion_id"),
        promotion__state__in=(*SUCCEEDED_STATES, State.FAILED),
    )
    rows = (
        PromotionItem.objects.order_by()
        .filter(promotion__state=State.FAILED)
        .filter(~Exists(later))
        .values(
            "application",
            "promotion_id",
            stage=F("promotion__to_stage"),
            repository=F("promotion__repository"),
            cause=F("promotion__failure_cause"),
            error=F("promotion__error"),
            finished_at=F("promotion__finished_at"),
        )
    )
    return cast(list[dict[str, Any]], list(rows.order_by("stage", "application")))


def sources() -> list[dict[str, Any]]:
    """Whether each Git host, cluster API and operator answered at its last check."""
    rows = SourceStatus.objects.order_by("kind", "name").values("kind", "name", "up", "reason", "checked_at", "since")
    return cast(list[dict[str, Any]], list(rows))


def seconds_since(moment: datetime | None, now: datetime) -> float:
    """Seconds from `moment` to `now` (0 when unknown), to the millisecond."""
    return round(max((now - moment).total_seconds(), 0.0), 3) if moment is not None else 0.0
