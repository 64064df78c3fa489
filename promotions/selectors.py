"""Reads for the pages: built from what `services.matrix_refresh` stored, in a constant
number of queries whatever the number of applications."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import groupby
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from promotions.config import Catalog
from promotions.live import is_stale
from promotions.models import AuditEvent, LiveState, Promotion, RepositoryState, StageVersion


@dataclass(frozen=True)
class DashboardCell:
    stage: str
    version: str | None
    error: str | None
    absent: bool
    behind: bool
    age: str
    title: str
    upstream: str = ""  # the stage it lags, when behind
    live: LiveState | None = None
    live_stale: bool = False  # observed too long ago: shown with its age, never as current health
    live_age: str = ""


@dataclass(frozen=True)
class DashboardRow:
    application: str
    repository: str
    cells: list[DashboardCell]

    @property
    def behind(self) -> bool:
        return any(cell.behind for cell in self.cells)


@dataclass(frozen=True)
class Column:
    stage: str
    behind: int  # how many applications differ from the stage before
    bundle: str  # query string promoting every one of them from the previous stage at once


@dataclass
class Dashboard:
    stages: list[str]
    rows: list[DashboardRow]
    repositories: list[RepositoryState]
    total: int
    stale: bool
    columns: list[Column] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # the catalogue's, and discovered names' (live state)


def dashboard_get(*, catalog: Catalog, query: str = "", behind_only: bool = False) -> Dashboard:
    """Applications × stages with each cell's version, age and whether it lags the stage before."""
    now = timezone.now()
    stages = catalog.stage_names
    states = list(RepositoryState.objects.all())
    cells = StageVersion.objects.filter(stage__in=stages).order_by("application")
    if query.strip():
        cells = cells.filter(application__icontains=query.strip())
    live = {(s.application, s.stage): s for s in LiveState.objects.filter(stage__in=stages)}
    rows = [_row(app, list(group), stages, now, live) for app, group in groupby(cells, key=lambda c: c.application)]
    columns = [_column(rows, stages, i) for i in range(len(stages))]
    total = StageVersion.objects.values("application").distinct().count() if query.strip() else len(rows)
    warnings = [*catalog.warnings, *_discovered_warnings(catalog, None if query.strip() else rows)]
    if behind_only:
        rows = [row for row in rows if row.behind]
    return Dashboard(stages, rows, states, total, _stale(catalog, states, now), columns, warnings)


def _discovered_warnings(catalog: Catalog, rows: list[DashboardRow] | None) -> list[str]:
    """Discovered applications their clusters cannot be searched for (`rows`: all of them, if at hand)."""
    if not any(stage.cluster for stage in catalog.stages):
        return []
    names = [row.application for row in rows] if rows is not None else None
    return catalog.live_warnings(names or StageVersion.objects.values_list("application", flat=True).distinct())


def _column(rows: list[DashboardRow], stages: list[str], index: int) -> Column:
    behind = [row for row in rows if row.cells[index].behind]
    previous = stages[index - 1] if index else ""
    bundle = [row.application for row in behind if row.cells[index].upstream == previous]
    query = urlencode([("to", stages[index]), ("from", previous), *(("app", a) for a in bundle)]) if bundle else ""
    return Column(stages[index], len(behind), query)


def _row(
    application: str,
    cells: list[StageVersion],
    stages: list[str],
    now: datetime,
    live: dict[tuple[str, str], LiveState],
) -> DashboardRow:
    by_stage = {cell.stage: cell for cell in cells}
    out: list[DashboardCell] = []
    upstream: tuple[str, str] | None = None  # (stage, version) of the nearest earlier stage with a version
    for stage in stages:
        cell = by_stage.get(stage)
        version = cell.version if cell else None
        lags = upstream if version and upstream and version != upstream[1] else None
        out.append(_cell(stage, cell, lags, now, live.get((application, stage))))
        upstream = (stage, version) if version else upstream
    return DashboardRow(application, cells[0].repository, out)


def _cell(
    stage: str, cell: StageVersion | None, lags: tuple[str, str] | None, now: datetime, live: LiveState | None = None
) -> DashboardCell:
    if cell is None or cell.path is None:
        return DashboardCell(stage, None, None, True, False, "", "not in this stage")
    title = cell.error or f"{cell.path}:{cell.line}"
    if cell.commit and cell.changed_at:
        title += f"\n{cell.commit[:10]} {cell.subject}\n{cell.author}, {cell.changed_at:%Y-%m-%d %H:%M %Z}"
    if lags:
        title += f"\ndiffers from {lags[0]} ({lags[1]})"
    upstream = lags[0] if lags else ""
    live_age = age(live.observed_at, now) if live else ""
    live_stale = live is not None and is_stale(live.observed_at, now, settings.GITOPS_PORTAL_LIVE_REFRESH_SECONDS)
    if live is not None:
        title += _live_title(live, live_age, live_stale)
    changed = age(cell.changed_at, now)
    return DashboardCell(stage, cell.version, cell.error, False, bool(lags), changed, title, upstream, live,
                         live_stale, live_age)  # fmt: skip


def _live_title(live: LiveState, live_age: str, stale: bool) -> str:
    runs = ", ".join(live.versions) or "nothing"
    when = f" {live_age} ago — stale, not read since" if stale else ""
    title = f"\ncluster{when}: {live.health}, {live.sync}; runs {runs}"
    title += f" ({live.ready}/{live.desired} ready)" if live.desired is not None else ""
    return title + (f"\n{live.reason}" if live.reason else "")


def age(when: datetime | None, now: datetime) -> str:
    """A compact age: 45s, 12m, 5h, 3d, 7w, 4mo, 2y."""
    if when is None:
        return ""
    seconds = max(0, int((now - when).total_seconds()))
    for unit, size in (
        ("y", 365 * 86400),
        ("mo", 30 * 86400),
        ("w", 7 * 86400),
        ("d", 86400),
        ("h", 3600),
        ("m", 60),
    ):
        if seconds >= size * (2 if unit in ("y", "mo", "w") else 1):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _stale(catalog: Catalog, states: list[RepositoryState], now: datetime) -> bool:
    """True when some repository was never read, was read with another catalogue, or long ago."""
    by_name = {state.name: state for state in states}
    limit = now - timedelta(seconds=settings.GITOPS_PORTAL_GIT_REFRESH_SECONDS)
    for repo in catalog.repositories:
        state = by_name.get(repo.name)
        if state is None:
            return True
        checked = state.checked_at or state.read_at
        if checked is None or checked < limit:
            return True
        # A new catalogue needs a new read, unless the last attempt (recent) failed:
        # then wait for the interval instead of fetching on every page view.
        if state.fingerprint != catalog.fingerprint and not state.error:
            return True
    return False


@dataclass(frozen=True)
class RefreshProgress:
    """Where a refresh asked for at `since` is: done, still waiting for a worker, or late."""

    since: int
    done: bool
    late: bool
    seconds: int


REFRESH_PATIENCE = 120  # seconds before the page stops waiting and says a worker may be missing


def refresh_progress(*, catalog: Catalog, since: int) -> RefreshProgress:
    """Whether every repository was fetched (well or not) since `since` (milliseconds since the epoch)."""
    start = datetime.fromtimestamp(since / 1000, tz=UTC)
    names = [repo.name for repo in catalog.repositories]
    checked = dict(RepositoryState.objects.filter(name__in=names).values_list("name", "checked_at"))
    done = all((when := checked.get(name)) is not None and when >= start for name in names)
    seconds = max(0, int((timezone.now() - start).total_seconds()))
    return RefreshProgress(since, done, not done and seconds > REFRESH_PATIENCE, seconds)


def application_cells_get(*, name: str) -> list[StageVersion]:
    return list(StageVersion.objects.filter(application=name))


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
    records = [_audit_record(event) for event in rows.iterator(chunk_size=2000)]
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


def _audit_record(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.pk, "at": event.at.isoformat(), "actor": event.actor, "source": event.source,
        "action": event.action, "message": event.message, "promotion": event.promotion_id,
        "applications": [a for a in event.applications.split(",") if a], "stage": event.stage,
        "targets": event.targets, "before": event.before, "after": event.after, "request_id": event.request_id,
        "hash": event.hash,
    }  # fmt: skip


def stored_matrix_document(*, catalog: Catalog, query: str = "") -> dict[str, Any]:
    """The `matrix --json` document from what the last refreshes stored (no Git, no cluster)."""
    from promotions.matrix import CELL_KEYS, live_document, live_documents

    stages = catalog.stage_names
    clustered = {s.name for s in catalog.stages if s.cluster is not None}
    live = live_documents() if clustered else {}
    rows = StageVersion.objects.filter(stage__in=stages).order_by("application")
    if query:
        rows = rows.filter(application__icontains=query)
    applications: dict[str, dict[str, Any]] = {}
    for cell in rows:
        app = applications.setdefault(cell.application, {"name": cell.application, "repository": cell.repository,
                                                         "stages": {}})  # fmt: skip
        document = dict.fromkeys(CELL_KEYS)
        if cell.path is not None:
            document |= {"version": cell.version, "path": cell.path, "line": cell.line, "commit": cell.commit or None,
                         "author": cell.author or None, "subject": cell.subject or None, "error": cell.error,
                         "date": cell.changed_at.isoformat() if cell.changed_at else None}  # fmt: skip
        found = live.get((cell.application, cell.stage))
        document["live"] = live_document(found, cell.stage in clustered and cell.path is not None)
        app["stages"][cell.stage] = document
    repositories = [
        {"name": s.name, "commit": s.commit or None, "error": s.error or None}
        for s in RepositoryState.objects.filter(name__in=[r.name for r in catalog.repositories])
    ]
    return {"repositories": repositories, "stages": stages, "applications": list(applications.values())}
