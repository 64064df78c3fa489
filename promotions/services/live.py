"""Reading every stage's cluster and storing what runs there (pages read the store)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from promotions.config import Catalog
from promotions.config.schema import ClusterConfig, render
from promotions.integrations.kube import ClusterUnavailable, KubeCluster
from promotions.labels import parse_selector
from promotions.live import WORKLOAD_KINDS, ClusterIndex, Declared, Observed, observe, unknown
from promotions.models import LiveState, StageVersion

log = logging.getLogger(__name__)


@dataclass
class StageRead:
    stage: str
    observed: list[Observed]
    calls: int = 0
    error: str = ""


@dataclass
class LiveReport:
    stages: list[StageRead] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return sum(read.calls for read in self.stages)


def live_refresh(*, catalog: Catalog, stages: list[str] | None = None) -> LiveReport:
    """Read the clusters of `stages` (default: every stage that has one), in parallel, and
    store the result; then move promotions along their rollout."""
    from promotions.services.rollout import promotions_follow_live

    wanted = [s for s in catalog.stages if s.cluster is not None and (stages is None or s.name in stages)]
    declared = {stage.name: declared_in(catalog, stage.name) for stage in wanted}
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(wanted)))) as pool:
        reads = list(pool.map(lambda s: _read_stage(catalog, s.name, declared[s.name]), wanted))
    now = timezone.now()
    for read in reads:
        _store(read, now)
    promotions_follow_live(catalog=catalog)
    return LiveReport(reads)


def declared_in(catalog: Catalog, stage: str) -> list[Declared]:
    """Every application Git declares in `stage`, with where to look for it."""
    cluster = _cluster_config(catalog, stage)
    declared = []
    for cell in StageVersion.objects.filter(stage=stage, path__isnull=False).order_by("application"):
        spec = catalog.application(cell.application, cell.repository)
        if spec is None or spec.live is None:
            continue
        namespace = render(spec.live.namespace or cluster.namespace, app=cell.application, stage=stage)
        stage_file = spec.files.get(stage)
        comparable = not (stage_file and stage_file.locator.key.startswith("helmrelease-chart"))
        declared.append(Declared(cell.application, namespace, spec.live, cell.version, comparable))
    return declared


def _read_stage(catalog: Catalog, stage: str, declared: list[Declared]) -> StageRead:
    if not declared:
        return StageRead(stage, [])
    config = _cluster_config(catalog, stage)
    cluster = KubeCluster(
        name=stage, kubeconfig=catalog.kubeconfig_path(stage), context=config.context, timeout=config.timeout
    )
    kinds = _kinds(declared)
    try:
        listing = cluster.read(namespaces={d.namespace for d in declared}, kinds=kinds, label_key=_common_key(declared))
    except ClusterUnavailable as exc:
        log.warning("live state of %s: %s", stage, exc.reason)
        return StageRead(stage, [unknown(d, exc.reason) for d in declared], error=exc.reason)
    index = ClusterIndex(listing.objects)
    observed = [observe(d, index, listing.unreadable) for d in declared]
    return StageRead(stage, observed, listing.calls)


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
    that have it (a name-only target disables the narrowing)."""
    keys: set[str] | None = None
    for d in declared:
        if not d.target.selector:
            return None
        mine = set(parse_selector(d.target.selector).keys)
        keys = mine if keys is None else keys & mine
    return sorted(keys)[0] if keys else None


@transaction.atomic
def _store(read: StageRead, now: datetime) -> None:
    LiveState.objects.filter(stage=read.stage).delete()
    LiveState.objects.bulk_create(_row(read.stage, o, now) for o in read.observed)


def _row(stage: str, o: Observed, now: datetime) -> LiveState:
    return LiveState(
        application=o.application, stage=stage, namespace=o.namespace, workload=o.workload[:500], version=o.version,
        versions=o.versions, health=o.health, sync=o.sync, ready=o.ready, desired=o.desired, reason=o.reason,
        observed_at=now,
    )  # fmt: skip
