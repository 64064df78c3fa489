"""Reads for the dashboard, built from what the refreshes stored, in a constant number of queries
whatever the number of applications."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import groupby
from urllib.parse import urlencode

from django.conf import settings
from django.utils import timezone

from promotions.catalogue.lookups import Catalog
from promotions.cluster.observe import is_stale
from promotions.models import LiveState, RepositoryState, StageVersion


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
