"""Reads for the dashboard, built from what the refreshes stored, in a constant number of queries
whatever the number of applications."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.utils import timezone

from promotions.catalogue.lookups import Catalog
from promotions.cluster.observe import is_stale
from promotions.matrix.memo import shared
from promotions.matrix.moving import unsettled_filter
from promotions.matrix.relation import Relation, Side, relations, rollbacks_known
from promotions.matrix.version import cells_version
from promotions.models import LiveState, Pin, PromotionItem, RepositoryState, StageVersion


@dataclass(frozen=True)
class CellLive:
    """What the stage's cluster runs for a cell, as the page shows it (read as plain values: a page
    of 1,000 cells would otherwise spend a third of its time building model instances)."""

    health: str
    sync: str
    versions: list[str]
    ready: int | None
    desired: int | None
    reason: str
    observed_at: datetime
    operator: dict[str, Any]


LIVE_FIELDS = ("health", "sync", "versions", "ready", "desired", "reason", "observed_at", "operator")


@dataclass(frozen=True)
class StoredCell:
    """A stored cell's values the page shows."""

    repository: str
    stage: str
    version: str | None
    path: str | None
    line: int | None
    error: str | None
    commit: str
    author: str
    changed_at: datetime | None
    subject: str


STORED_FIELDS = ("repository", "stage", "version", "path", "line", "error", "commit", "author", "changed_at", "subject")


@dataclass(frozen=True)
class PinMark:
    """A version a rollback holds in a stage: automatic promotions and "promote all" leave it alone."""

    version: str
    rollback: int  # the rollback promotion's id


@dataclass(frozen=True)
class OpenPromotion:
    """A promotion into a cell that has not settled yet, and what it waits on, in a few words."""

    pk: int
    state: str
    to_version: str
    gate: str


# What an unsettled promotion waits on, said on its cell.
GATES = {
    "queued": "queued for a worker",
    "preparing": "being written",
    "pr_open": "waits for review",
    "approved": "approved, waits for merge",
    "committed": "landed, waits for the cluster",
    "merged": "landed, waits for the cluster",
    "syncing": "waits for the cluster",
    "deployed": "running, being verified",
}


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
    live: CellLive | None = None
    live_stale: bool = False  # observed too long ago: shown with its age, never as current health
    live_age: str = ""
    relation: str | None = None  # same, behind, ahead, diverged, unknown; None: nothing to compare with
    compared: tuple[str, ...] = ()  # the upstream stage(s) it was compared with
    pin: PinMark | None = None  # rolled back to and held there
    moving: tuple[OpenPromotion, ...] = ()  # promotions into this cell not yet settled

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
    pinned: int = 0  # behind, but held by a rollback's pin: left out


@dataclass(frozen=True)
class Column:
    stage: str
    behind: int  # how many applications an upstream has a newer version of
    bundles: list[Bundle]  # one per upstream (edge) they are behind; never a downgrade
    upstream: tuple[str, ...] = ()  # the stages it takes releases from

    @property
    def bundle(self) -> str:
        return self.bundles[0].query if len(self.bundles) == 1 else ""


PAGE_SIZE = 200  # rows a page shows: what a person scans; the rest is a page away (or a filter)


@dataclass
class Dashboard:
    stages: list[str]
    rows: list[DashboardRow]  # the page's
    repositories: list[RepositoryState]
    total: int  # applications in all
    stale: bool
    columns: list[Column] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # the catalogue's, and discovered names' (live state)
    matched: int = 0  # applications the filters keep (over every page)
    page: int = 1
    pages: int = 1

    @property
    def first(self) -> int:
        """The position of the page's first row among the matched ones (1-based; 0 when none)."""
        return (self.page - 1) * PAGE_SIZE + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return (self.page - 1) * PAGE_SIZE + len(self.rows)


def dashboard_get(
    *, catalog: Catalog, query: str = "", behind_only: bool = False, page: int = 1, cells: str | None = None
) -> Dashboard:
    """Applications × stages (in graph order) with each cell's version, age and relation to its upstreams.

    What a page costs grows with the rows it shows, not the applications there are: every cell's
    relation (the columns' "behind" counts, the "behind only" filter) comes from a light pass over
    plain values; cells in full, their commits and live state are read for the page's rows only."""
    now = timezone.now()
    stages = catalog.stage_names
    states = list(RepositoryState.objects.all())
    related = related_get(catalog=catalog, cells=cells)
    names = [app for app, _ in related]
    if query.strip():
        needle = query.strip().casefold()
        related = [(app, rel) for app, rel in related if needle in app.casefold()]
    if behind_only:
        related = [(app, rel) for app, rel in related if any(r.relation == "behind" for r in rel.values())]
    pins = pins_get()
    columns = [_column(catalog, related, stage, pins) for stage in stages]
    pages = max(1, -(-len(related) // PAGE_SIZE))
    page = min(max(1, page), pages)
    window = related[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    rows = _rows(catalog, window, now, pins)
    total = len(names)
    warnings = [*catalog.warnings, *_discovered_warnings(catalog, names)]
    return Dashboard(stages, rows, states, total, _stale(catalog, states, now), columns, warnings, len(related), page,
                     pages)  # fmt: skip


Related = list[tuple[str, dict[str, Relation]]]  # every application, in order, with each stage's relation


def related_get(*, catalog: Catalog, cells: str | None = None) -> Related:
    """Every application's relation per stage, worked out once per state of the cells (the key is
    `cells_version`: a new commit read, a changed catalogue or a landed rollback is a new key) and
    shared by every page, filter and user; the refresh that stores cells warms it."""
    key = cells or cells_version(catalog=catalog)
    return shared("dashboard-related", key, lambda: _related(catalog))


def _related(catalog: Catalog) -> Related:
    stages = catalog.stage_names
    older = rollbacks_known()
    light = StageVersion.objects.filter(stage__in=stages).order_by("application")
    related: Related = []
    for app, group in groupby(
        light.values_list("application", "stage", "version", "error", "path", "changed_at"), key=lambda c: c[0]
    ):
        sides = {stage: Side(None, present=False) for stage in stages}
        for _, stage, version, error, path, changed_at in group:
            sides[stage] = Side(version, bool(error), path is not None, changed_at)
        related.append((app, relations(catalog, sides, older.get(app, frozenset()))))
    return related


def pins_get() -> dict[tuple[str, str], PinMark]:
    """Every pin, by (application, stage): few (one per rolled-back cell), read in one query."""
    rows = Pin.objects.values_list("application", "stage", "version", "promotion_id")
    return {(app, stage): PinMark(version, rollback) for app, stage, version, rollback in rows}


def _moving(catalog: Catalog, apps: list[str]) -> dict[tuple[str, str], list[OpenPromotion]]:
    """The unsettled promotions into the page's cells (one query)."""
    rows = (
        PromotionItem.objects.filter(application__in=apps)
        .filter(unsettled_filter(catalog, "promotion__"))
        .order_by("promotion_id")
        .values_list("application", "promotion__to_stage", "promotion_id", "promotion__state", "to_version")
    )
    moving: dict[tuple[str, str], list[OpenPromotion]] = {}
    for app, stage, pk, state, version in rows:
        moving.setdefault((app, stage), []).append(OpenPromotion(pk, state, version, GATES.get(state, state)))
    return moving


def _rows(
    catalog: Catalog, window: list[tuple[str, dict[str, Relation]]], now: datetime, pins: dict[tuple[str, str], PinMark]
) -> list[DashboardRow]:
    """The page's rows in full: their cells, live state and unsettled promotions, three queries."""
    apps = [app for app, _ in window]
    cells: dict[str, list[StoredCell]] = {}
    stored = StageVersion.objects.filter(application__in=apps, stage__in=catalog.stage_names)
    for app, *values in stored.values_list("application", *STORED_FIELDS):
        cells.setdefault(app, []).append(StoredCell(*values))
    observed = LiveState.objects.filter(application__in=apps, stage__in=catalog.stage_names)
    live = {(app, stage): CellLive(*values) for app, stage, *values in observed.values_list("application", "stage",
                                                                                             *LIVE_FIELDS)}  # fmt: skip
    moving = _moving(catalog, apps)
    return [_row(catalog, app, cells[app], now, live, rel, pins, moving) for app, rel in window if app in cells]


def _discovered_warnings(catalog: Catalog, names: list[str] | None) -> list[str]:
    """Discovered applications their clusters cannot be searched for (`names`: all of them, if at hand)."""
    if not any(stage.cluster for stage in catalog.stages):
        return []
    return catalog.live_warnings(names or StageVersion.objects.values_list("application", flat=True).distinct())


# A "promote all" link lists its applications up to this many; past it, it says "all behind" and the
# promote page works the list out (a URL of thousands of names is longer than proxies accept).
BUNDLE_LINK_MAX = 50


def behind_applications(*, catalog: Catalog, source: str, target: str) -> list[str]:
    """The applications of `target` behind `source` (the relations the dashboard shows), in order;
    not those a rollback pinned in `target` ("promote all" leaves them alone)."""
    pinned = {app for app, stage in pins_get() if stage == target}
    return [app for app, rel in related_get(catalog=catalog)
            if (r := rel.get(target)) is not None and r.relation == "behind" and r.source == source
            and app not in pinned]  # fmt: skip


def selection_digest(applications: list[str]) -> str:
    """A short digest of a list of applications: what a preview showed, checked again when confirmed."""
    return hashlib.sha256("\n".join(applications).encode()).hexdigest()[:16]


def _column(
    catalog: Catalog, related: list[tuple[str, dict[str, Relation]]], stage: str, pins: dict[tuple[str, str], PinMark]
) -> Column:
    """A stage's header: how many applications are behind, and one bundle per upstream edge (without
    the pinned ones: a rollback's pin is lifted only by a promotion of that application by hand)."""
    behind = [(app, rel[stage]) for app, rel in related if rel[stage].relation == "behind"]
    bundles = []
    for source in dict.fromkeys(relation.source for _, relation in behind):
        edge = [app for app, relation in behind if relation.source == source]
        apps = [app for app in edge if (app, stage) not in pins]
        if not apps:
            continue
        listed = [("app", a) for a in apps] if len(apps) <= BUNDLE_LINK_MAX else [("behind", "1")]
        query = urlencode([("to", stage), ("from", source), *listed])
        bundles.append(Bundle(source, len(apps), query, len(edge) - len(apps)))
    return Column(stage, len(behind), bundles, tuple(catalog.upstreams(stage)))


def _row(
    catalog: Catalog,
    application: str,
    cells: list[StoredCell],
    now: datetime,
    live: dict[tuple[str, str], CellLive],
    related: dict[str, Relation],
    pins: dict[tuple[str, str], PinMark],
    moving: dict[tuple[str, str], list[OpenPromotion]],
) -> DashboardRow:
    by_stage = {cell.stage: cell for cell in cells}
    out = [
        _cell(
            stage,
            by_stage.get(stage),
            related[stage],
            now,
            live.get((application, stage)),
            pins.get((application, stage)),
            tuple(moving.get((application, stage), ())),
        )
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
    stage: str,
    cell: StoredCell | None,
    related: Relation,
    now: datetime,
    live: CellLive | None = None,
    pin: PinMark | None = None,
    moving: tuple[OpenPromotion, ...] = (),
) -> DashboardCell:
    if cell is None or cell.path is None:
        return DashboardCell(stage, None, None, True, False, "", "not in this stage", moving=moving)
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
    if pin is not None:
        title += f"\npinned at {pin.version} by rollback #{pin.rollback}: only a promotion by hand moves it on"
    return DashboardCell(stage, cell.version, cell.error, False, related.relation == "behind", changed, title,
                         upstream, live, live_stale, live_age, related.relation, related.upstream, pin,
                         moving)  # fmt: skip


def _live_title(live: CellLive, live_age: str, stale: bool) -> str:
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
