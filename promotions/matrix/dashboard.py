"""Reads for the dashboard, built from what the refreshes stored, in a constant number of queries
whatever the number of applications."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.utils import timezone

from promotions.catalogue.lookups import Catalog
from promotions.cluster.observe import is_stale
from promotions.matrix.relation import Relation, Side, relations, rollbacks_known
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
    upstream: str = ""  # the stage to promote from, when behind
    live: LiveState | None = None
    live_stale: bool = False  # observed too long ago: shown with its age, never as current health
    live_age: str = ""
    relation: str | None = None  # same, behind, ahead, diverged, unknown; None: nothing to compare with
    compared: tuple[str, ...] = ()  # the upstream stage(s) it was compared with

    @property
    def operator(self) -> dict[str, Any]:
        """What the stage's Flux or Argo CD says (see `operator_line`), {} without one or while stale."""
        return {} if self.live is None or self.live_stale else self.live.operator or {}

    @property
    def operator_line(self) -> str:
        """The operator's verdict in a few words: "Flux: applied", "Flux: not yet applied (has abc1234)",
        "Flux failed: BuildFailed: …" (the whole summary is in the cell's title)."""
        op = self.operator
        if not op:
            return ""
        verdict, title = op.get("verdict"), op.get("operator", "")
        if verdict == "applied":
            line = f"{title}: applied"
        elif verdict == "pending":
            line = f"{title}: not yet applied" + (f" (has {op['revision'][:7]})" if op.get("revision") else "")
        elif verdict == "failed":
            line = f"{title} {op.get('summary', 'failed')}"
        else:
            line = f"{title}: {op.get('summary', 'unknown').removeprefix('unknown: ')}"
        line = line if len(line) <= 160 else line[:159] + "…"
        helm = op.get("helm") or {}
        if helm.get("chart"):
            line += f" · chart {helm['chart']} → {helm.get('resolved') or '?'}"
        return line


@dataclass(frozen=True)
class DashboardRow:
    application: str
    repository: str
    cells: list[DashboardCell]

    @property
    def behind(self) -> bool:
        return any(cell.behind for cell in self.cells)


@dataclass(frozen=True)
class Bundle:
    """The applications of a column behind one upstream: promoted together along that edge."""

    source: str
    count: int
    query: str  # the promote page's query string


@dataclass(frozen=True)
class Column:
    stage: str
    behind: int  # how many applications an upstream has a newer version of
    bundles: list[Bundle]  # one per upstream (edge) they are behind; never a downgrade
    upstream: tuple[str, ...] = ()  # the stages it takes releases from

    @property
    def bundle(self) -> str:
        return self.bundles[0].query if len(self.bundles) == 1 else ""


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
    """Applications × stages (in graph order) with each cell's version, age and relation to its upstreams."""
    now = timezone.now()
    stages = catalog.stage_names
    states = list(RepositoryState.objects.all())
    cells = StageVersion.objects.filter(stage__in=stages).order_by("application")
    if query.strip():
        cells = cells.filter(application__icontains=query.strip())
    live = {(s.application, s.stage): s for s in LiveState.objects.filter(stage__in=stages)}
    older = rollbacks_known()
    rows = [
        _row(catalog, app, list(group), now, live, older.get(app, frozenset()))
        for app, group in groupby(cells, key=lambda c: c.application)
    ]
    columns = [_column(catalog, rows, i) for i in range(len(stages))]
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


def _column(catalog: Catalog, rows: list[DashboardRow], index: int) -> Column:
    """A stage's header: how many applications are behind, and one bundle per upstream edge."""
    stage = catalog.stage_names[index]
    behind = [row for row in rows if row.cells[index].behind]
    bundles = []
    for source in dict.fromkeys(row.cells[index].upstream for row in behind):
        apps = [row.application for row in behind if row.cells[index].upstream == source]
        query = urlencode([("to", stage), ("from", source), *(("app", a) for a in apps)])
        bundles.append(Bundle(source, len(apps), query))
    return Column(stage, len(behind), bundles, tuple(catalog.upstreams(stage)))


def _row(
    catalog: Catalog,
    application: str,
    cells: list[StageVersion],
    now: datetime,
    live: dict[tuple[str, str], LiveState],
    older: frozenset[tuple[str, str]],
) -> DashboardRow:
    by_stage = {cell.stage: cell for cell in cells}
    sides = {
        stage: Side(c.version, bool(c.error), c.path is not None, c.changed_at) if (c := by_stage.get(stage))
        else Side(None, present=False)
        for stage in catalog.stage_names
    }  # fmt: skip
    related = relations(catalog, sides, older)
    out = [
        _cell(stage, by_stage.get(stage), related[stage], now, live.get((application, stage)))
        for stage in catalog.stage_names
    ]
    return DashboardRow(application, cells[0].repository, out)


def _relation_title(related: Relation) -> str:
    compared = ", ".join(related.upstream)
    return {
        "behind": f"\nbehind: differs from {related.source} ({related.upstream_version}), which is newer",
        "ahead": f"\nahead of {compared} ({related.upstream_version}): newer than its upstream",
        "diverged": f"\ndiverged: its upstreams {compared} have different versions",
        "unknown": f"\ncannot be ordered against {compared}",
    }.get(related.relation or "", "")


def _cell(
    stage: str, cell: StageVersion | None, related: Relation, now: datetime, live: LiveState | None = None
) -> DashboardCell:
    if cell is None or cell.path is None:
        return DashboardCell(stage, None, None, True, False, "", "not in this stage")
    title = cell.error or f"{cell.path}:{cell.line}"
    if cell.commit and cell.changed_at:
        title += f"\n{cell.commit[:10]} {cell.subject}\n{cell.author}, {cell.changed_at:%Y-%m-%d %H:%M %Z}"
    title += _relation_title(related)
    upstream = related.source
    live_age = age(live.observed_at, now) if live else ""
    live_stale = live is not None and is_stale(live.observed_at, now, settings.GITOPS_PORTAL_LIVE_REFRESH_SECONDS)
    if live is not None:
        title += _live_title(live, live_age, live_stale)
    changed = age(cell.changed_at, now)
    return DashboardCell(stage, cell.version, cell.error, False, related.relation == "behind", changed, title,
                         upstream, live, live_stale, live_age, related.relation, related.upstream)  # fmt: skip


def _live_title(live: LiveState, live_age: str, stale: bool) -> str:
    runs = ", ".join(live.versions) or "nothing"
    when = f" {live_age} ago — stale, not read since" if stale else ""
    title = f"\ncluster{when}: {live.health}, {live.sync}; runs {runs}"
    title += f" ({live.ready}/{live.desired} ready)" if live.desired is not None else ""
    title += f"\n{live.reason}" if live.reason else ""
    op = live.operator or {}
    if op:
        where = f" {op['kind']} {op['namespace']}/{op['name']}" if op.get("kind") else ""
        title += f"\n{op.get('operator', '')}{where}: {op.get('summary', '')}"
    return title


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
