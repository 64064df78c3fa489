"""Reading every stage's cluster and storing what runs there (pages read the store)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from promotions.catalogue.lookups import Catalog, live_problem
from promotions.catalogue.schema import ClusterConfig, render
from promotions.cluster.client import ClusterUnavailable, KubeCluster
from promotions.cluster.labels import SelectorError, parse_selector
from promotions.cluster.observe import WORKLOAD_KINDS, ClusterIndex, Declared, Observed, observe, unknown
from promotions.cluster.target import LiveTarget
from promotions.matrix.applied import OperatorRead, operator_read, operator_unknown
from promotions.matrix.sources import source_status_record
from promotions.models import LiveState, RepositoryState, StageVersion

log = logging.getLogger(__name__)
STAGE_FAILED = "internal error reading this stage; see the portal's logs"
APPLICATION_FAILED = "internal error reading this application; see the portal's logs"
_NOTHING_KNOWN: dict[str, Any] = {"health": LiveState.Health.UNKNOWN, "sync": LiveState.Sync.UNKNOWN, "version": None,
                                  "ready": None, "desired": None}  # fmt: skip


@dataclass
class StageRead:
    stage: str
    observed: list[Observed]
    calls: int = 0
    error: str = ""
    keep: bool = False  # not even Git's side could be worked out: mark the stored cells Unknown
    operator: OperatorRead | None = None  # None: the stage names no operator (or the cluster was not read)
    declared: dict[str, Declared] = field(default_factory=dict)


@dataclass
class LiveReport:
    stages: list[StageRead] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return sum(read.calls for read in self.stages)


def live_read(*, catalog: Catalog, stages: list[str] | None = None) -> LiveReport:
    """Read the clusters of `stages` (default: every stage that has one), in parallel, and store
    what runs there. A problem with one application is that cell's reason, one with a stage that
    stage's: the rest is always read and stored."""
    wanted = [s for s in catalog.stages if s.cluster is not None and (stages is None or s.name in stages)]
    declared = {stage.name: _declared_or_none(catalog, stage.name) for stage in wanted}
    heads = dict(RepositoryState.objects.values_list("name", "commit"))
    now = timezone.now()
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(wanted)))) as pool:
        reads = list(pool.map(lambda s: _read_stage_guarded(catalog, s.name, declared[s.name], heads, now), wanted))
    for read in reads:
        _store_guarded(read, now)
    return LiveReport(reads)


def declared_in(catalog: Catalog, stage: str) -> list[Declared]:
    """Every application Git declares in `stage`, with where to look for it (or why it cannot be)."""
    cluster = _cluster_config(catalog, stage)
    declared = []
    for cell in StageVersion.objects.filter(stage=stage, path__isnull=False).order_by("application"):
        try:
            found = _declared(catalog, cell, stage, cluster)
        except Exception:  # a bug with one application must not hide the others
            log.exception("live state of %r in %s: working out where to look failed", cell.application, stage)
            target = LiveTarget(None, None, None, cell.application)
            found = Declared(cell.application, "", target, cell.version, problem=APPLICATION_FAILED)
        if found is not None:
            declared.append(found)
    return declared


def _declared(catalog: Catalog, cell: StageVersion, stage: str, cluster: ClusterConfig) -> Declared | None:
    spec = catalog.application(cell.application, cell.repository)
    if spec is None or spec.live is None:
        return None
    target = spec.live.for_stage(stage)
    namespace = render(target.namespace or cluster.namespace, app=cell.application, stage=stage)
    stage_file = spec.files.get(stage)
    comparable = not (stage_file and stage_file.locator.key.startswith("helmrelease-chart"))
    problem = live_problem(cell.application, target, namespace)
    return Declared(cell.application, namespace, target, cell.version, comparable, problem, cell.path or "",
                    cell.commit, cell.repository)  # fmt: skip


def _declared_or_none(catalog: Catalog, stage: str) -> list[Declared] | None:
    try:
        return declared_in(catalog, stage)
    except Exception:
        log.exception("live state of %s: working out what Git declares failed", stage)
        return None


def _read_stage_guarded(
    catalog: Catalog, stage: str, declared: list[Declared] | None, heads: dict[str, str], now: datetime
) -> StageRead:
    """One stage's read; anything unexpected marks that stage's cells Unknown, not the others'."""
    if declared is None:
        return StageRead(stage, [], error=STAGE_FAILED, keep=True)
    by_app = {d.application: d for d in declared}
    try:
        read = _read_stage(catalog, stage, declared, heads, now)
    except Exception:
        log.exception("live state of %s: reading failed", stage)
        read = StageRead(stage, [unknown(d, STAGE_FAILED) for d in declared], error=STAGE_FAILED)
    read.declared = by_app
    return read


def _read_stage(
    catalog: Catalog, stage: str, declared: list[Declared], heads: dict[str, str], now: datetime
) -> StageRead:
    readable = [d for d in declared if not d.problem]
    if not readable:
        return StageRead(stage, [unknown(d, d.problem) for d in declared])
    config = _cluster_config(catalog, stage)
    cluster = KubeCluster(
        name=stage, kubeconfig=catalog.kubeconfig_path(stage), context=config.context, timeout=config.timeout
    )
    namespaces, kinds, key = {d.namespace for d in readable}, _kinds(readable), _common_key(readable)
    operator = config_of.operator if (config_of := catalog.stage(stage)) else None
    try:
        observed, calls = _observe_stage(cluster, declared, namespaces, kinds, key)
    except ClusterUnavailable as exc:
        log.warning("live state of %s: %s", stage, exc.reason)
        read = StageRead(stage, [unknown(d, d.problem or exc.reason) for d in declared], error=exc.reason)
        if operator is not None:
            read.operator = operator_unknown(declared, operator, exc.reason, now.isoformat())
        return read
    read = StageRead(stage, observed, calls)
    if operator is not None:
        read.operator = operator_read(catalog=catalog, config=operator, cluster=cluster, declared=readable,
                                      heads=heads, observed_at=now.isoformat())  # fmt: skip
        read.calls += read.operator.calls
    return read


def _observe_stage(
    cluster: KubeCluster, declared: list[Declared], namespaces: set[str], kinds: list[str], key: str | None
) -> tuple[list[Observed], int]:
    """What runs for each application, and the list calls it took. The workloads first: a workload
    its own status calls Healthy runs its template's version on every replica, so ReplicaSets (the
    versions of a rollout) and Pods (crash-loops) are listed only when some workload is moving,
    and only those applications are looked at again: a settled cluster costs a third of the bytes."""
    first = [k for k in kinds if k in WORKLOAD_KINDS]
    listing = cluster.read(namespaces=namespaces, kinds=first, label_key=key)
    index = ClusterIndex(listing.objects)
    observed = [_observe(d, index, listing.unreadable) for d in declared]
    moving = [
        n for n, o in enumerate(observed) if o.health in (LiveState.Health.PROGRESSING, LiveState.Health.DEGRADED)
    ]
    rest = [k for k in kinds if k not in first]
    if not moving or not rest:
        return observed, listing.calls
    more = cluster.read(namespaces={declared[n].namespace for n in moving}, kinds=rest, label_key=key)
    index = ClusterIndex(listing.objects | more.objects)
    unreadable = listing.unreadable | more.unreadable
    for n in moving:
        observed[n] = _observe(declared[n], index, unreadable)
    return observed, listing.calls + more.calls


def _observe(declared: Declared, index: ClusterIndex, unreadable: dict[str, str]) -> Observed:
    """One application's live state; whatever goes wrong with it stays in its own cell."""
    if declared.problem:
        return unknown(declared, declared.problem)
    try:
        return observe(declared, index, unreadable)
    except Exception:
        log.exception("live state of %r in %s: observing failed", declared.application, declared.namespace)
        return unknown(declared, APPLICATION_FAILED)


def _cluster_config(catalog: Catalog, stage: str) -> ClusterConfig:
    config = catalog.stage(stage)
    if config is None or config.cluster is None:
        raise ValueError(f"stage {stage!r} has no cluster")
    return config.cluster


def _kinds(declared: list[Declared]) -> list[str]:
    kinds = {k for d in declared for k in ((d.target.kind,) if d.target.kind else WORKLOAD_KINDS)}
    ordered = [k for k in WORKLOAD_KINDS if k in kinds]
    extra = ["ReplicaSet"] if "Deployment" in kinds else []
    return [*ordered, *extra, "Pod"]


def _common_key(declared: list[Declared]) -> str | None:
    """A label key every application's selector requires: lists can ask only for objects
    that have it (a name-only target disables the narrowing; a broken selector is left out,
    its cell says why)."""
    keys: set[str] | None = None
    for d in declared:
        if not d.target.selector:
            return None
        try:
            mine = set(parse_selector(d.target.selector).keys)
        except SelectorError:
            continue
        keys = mine if keys is None else keys & mine
    return sorted(keys)[0] if keys else None


def _store_guarded(read: StageRead, now: datetime) -> None:
    try:
        _store(read, now)
        _sources_record(read, now)
    except Exception:  # say, a value the database refuses: the other stages are still stored
        log.exception("live state of %s: storing failed", read.stage)


def _sources_record(read: StageRead, now: datetime) -> None:
    """The stage's cluster (and operator) as sources: down with the reason when they could not be read."""
    if read.keep or read.error == STAGE_FAILED:
        return  # Git's side failed, or the portal did: nothing learnt about the cluster
    source_status_record("cluster", read.stage, up=read.error == "", reason=read.error, now=now)
    if read.operator is not None and not read.error:  # an unreachable cluster is one outage, not two
        source_status_record("operator", read.stage, up=read.operator.up, reason=read.operator.reason, now=now)


@transaction.atomic
def _store(read: StageRead, now: datetime) -> None:
    if read.keep:
        rows = LiveState.objects.filter(stage=read.stage)
        rows.update(**_NOTHING_KNOWN, versions=[], reason=read.error, observed_at=now)
        return
    stored = {row[0]: row for row in LiveState.objects.filter(stage=read.stage).values_list("application", "pk",
                                                                                          *STORED_FIELDS)}  # fmt: skip
    operators = read.operator.cells if read.operator else {}
    fresh, changed = [], []
    for o in read.observed:
        before = stored.pop(o.application, None)
        drift = _drift_since(read.declared.get(o.application), o, operators.get(o.application),
                             before[-1] if before else None, now)  # fmt: skip
        row = _row(read.stage, o, now, operators.get(o.application, {}), drift)
        if before is None:
            fresh.append(row)
        elif _values(row) != _comparable(before[2:]):
            row.pk = before[1]
            changed.append(row)
    deleted = list(stored)
    # Only what changed is written: a settled stage of 10,000 applications is one UPDATE (the time
    # of this read), not 10,000 rows deleted and inserted every refresh.
    LiveState.objects.filter(stage=read.stage, application__in=deleted).delete()
    LiveState.objects.filter(stage=read.stage).update(observed_at=now)
    LiveState.objects.bulk_update(changed, (*STORED_FIELDS, "changed_at"), batch_size=500)
    LiveState.objects.bulk_create(fresh, batch_size=500)
    if deleted and not (changed or fresh):  # a row gone is a change too: the stage's newest moves
        LiveState.objects.filter(stage=read.stage).update(changed_at=now)


STORED_FIELDS = ("namespace", "workload", "version", "versions", "health", "sync", "ready", "desired", "reason",
                 "operator", "drift_since")  # fmt: skip


def _values(row: LiveState) -> tuple[Any, ...]:
    return _comparable(tuple(getattr(row, name) for name in STORED_FIELDS))


def _comparable(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row's stored values as compared between reads: the operator's time of reading is not a change
    (the read's time is every row's `observed_at`)."""
    operator = values[STORED_FIELDS.index("operator")]
    if operator:
        operator = {key: value for key, value in operator.items() if key != "observed_at"}
    return (*values[:9], operator, values[10])


def _drift_since(declared: Declared | None, o: Observed, operator: dict[str, Any] | None, before: datetime | None,
                 now: datetime) -> datetime | None:  # fmt: skip
    """Since when Git's version, what the operator applied and what runs disagree (None: they agree).
    Where nothing could be observed, what was known before stands."""
    if declared is None or o.health == LiveState.Health.UNKNOWN:
        return before
    running_differs = declared.comparable and o.versions != [declared.version]
    not_applied = operator is not None and operator.get("verdict") != "applied"
    if not (running_differs or not_applied):
        return None
    return before or now


def _row(stage: str, o: Observed, now: datetime, operator: dict[str, Any], drift_since: datetime | None) -> LiveState:
    return LiveState(
        application=o.application, stage=stage, namespace=o.namespace[:255], workload=o.workload[:500],
        version=o.version, versions=o.versions, health=o.health, sync=o.sync, ready=o.ready, desired=o.desired,
        reason=o.reason, observed_at=now, operator=operator, drift_since=drift_since, changed_at=now,
    )  # fmt: skip
