"""After Git: follow a landed promotion until its stage's cluster runs it, healthy.

committed/merged → syncing (Git has it, the cluster not yet) → deployed (the cluster
runs the new version) → verified (healthy for the stage's soak time), or failed with
the reason (the rollout degraded, or nothing ran it within the deploy deadline). Stale
live state (not read for a while) moves nothing: what ran then says nothing about now.

Where the stage names its GitOps operator, `syncing` also waits for the operator to apply a
revision that contains the promotion's commit (an ancestry check in Git: `applied_at`, on the
timeline), and fails at once, with the operator's own message, when the operator fails on such
a revision (a Kustomization that does not build, a HelmRelease upgrade that fails, an Argo CD
sync error) instead of waiting for the deploy deadline.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from promotions.audit.chain import audit_record
from promotions.catalogue.connect import git_repository
from promotions.catalogue.lookups import Catalog
from promotions.catalogue.schema import OperatorConfig, PromotionPolicy
from promotions.cluster.observe import is_stale
from promotions.cluster.operators import failing
from promotions.matrix.live import LiveReport, live_read
from promotions.models import LiveState, Promotion, PromotionItem
from promotions.queue import task_send
from promotions.workflow.state import transition

State = Promotion.State
ACTOR = "cluster"


def live_refresh_request() -> str:
    """Ask a worker to read every stage's cluster now (never inside a web request: a slow
    cluster would hold it); '' when queued, else why not."""
    problem = task_send("live_refresh_task")
    return f"could not start reading the clusters: {problem}; the periodic read will catch up" if problem else ""


def live_refresh(*, catalog: Catalog, stages: list[str] | None = None) -> LiveReport:
    """Read the clusters of `stages` (default: every stage that has one) and store what runs
    there (`matrix.live`), then move landed promotions along their rollout."""
    report = live_read(catalog=catalog, stages=stages)
    promotions_follow_live(catalog=catalog)
    return report


def promotions_follow_live(*, catalog: Catalog) -> list[int]:
    """Advance every landed promotion whose stage has a cluster; returns those that moved."""
    moved = []
    clustered = [s.name for s in catalog.stages if s.cluster is not None]
    landed = Promotion.objects.filter(state__in=Promotion.ROLLOUT_STATES, to_stage__in=clustered)
    ancestry = _Ancestry(catalog)
    for promotion in landed.prefetch_related("items"):
        stage = catalog.stage(promotion.to_stage)
        if stage is None or stage.cluster is None:
            continue
        before = promotion.state
        _advance(promotion, stage.promotion, timezone.now(), stage.operator, ancestry)
        if promotion.state != before:
            moved.append(promotion.pk)
    return moved


class _Ancestry:
    """Whether a promotion's commit is in the revision an operator applied (Git ancestry), asked once
    per pair in a pass."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._known: dict[tuple[str, str, str], bool] = {}

    def contains(self, repository: str, change: str, revision: str) -> bool:
        if not change or not revision:
            return False
        if change == revision:
            return True
        key = (repository, change, revision)
        if key not in self._known:
            git = git_repository(self.catalog.repository(repository))
            self._known[key] = git.is_ancestor(change, revision)
        return self._known[key]


def _advance(promotion: Promotion, policy: PromotionPolicy, now: datetime, operator: OperatorConfig | None = None,
             ancestry: _Ancestry | None = None) -> None:  # fmt: skip
    items = list(promotion.items.all())
    apps = [i.application for i in items]
    rows = list(LiveState.objects.filter(stage=promotion.to_stage, application__in=apps))
    refresh = settings.GITOPS_PORTAL_LIVE_REFRESH_SECONDS
    live = {s.application: s for s in rows if not is_stale(s.observed_at, now, refresh)}
    if promotion.state in (State.COMMITTED, State.MERGED):
        waiting = ", ".join(f"{i.application} {i.to_version}{_now_runs(live.get(i.application))}" for i in items)
        _move(promotion, State.SYNCING, f"waiting for {promotion.to_stage}'s cluster to run {waiting}")
    if len(live) < len(rows):  # some of it is stale: wait for a fresh read before judging
        return
    if (
        promotion.state == State.SYNCING
        and operator is not None
        and ancestry is not None
        and not _operator_applied(promotion, items, live, operator, ancestry, now)
    ):
        if promotion.state == State.SYNCING:  # not failed by the operator: maybe late
            _deadline(promotion, items, live, policy, now, waiting_on=operator.title)
        return
    if promotion.state == State.SYNCING:
        _syncing(promotion, items, live, policy, now)
    elif promotion.state == State.DEPLOYED:
        _deployed(promotion, items, live, policy, now)


def _syncing(promotion: Promotion, items: list[PromotionItem], live: dict[str, LiveState], policy: PromotionPolicy,
             now: datetime) -> None:  # fmt: skip
    states = [live.get(i.application) for i in items]
    if all(s is not None and s.versions == [i.to_version] for s, i in zip(states, items, strict=True)):
        runs = ", ".join(
            f"{i.application} {i.to_version} on {s.ready}/{s.desired}" for s, i in zip(states, items, strict=True) if s
        )
        _move(promotion, State.DEPLOYED, f"{promotion.to_stage} runs {runs}", deployed_at=now)
        return
    for state, item in zip(states, items, strict=True):
        if state is not None and state.health == LiveState.Health.DEGRADED and item.to_version in state.versions:
            message = f"{item.application} {item.to_version} in {promotion.to_stage} is Degraded: {state.reason}"
            _move(promotion, State.FAILED, message, error=message, failure_cause="rollout")
            return
    _deadline(promotion, items, live, policy, now)


def _deadline(promotion: Promotion, items: list[PromotionItem], live: dict[str, LiveState], policy: PromotionPolicy,
              now: datetime, waiting_on: str = "") -> None:  # fmt: skip
    """Fail a promotion nothing has run within the stage's deploy deadline, saying what each application
    runs (and, while its operator had not applied it, what the operator has)."""
    landed = promotion.landed_at or promotion.updated_at
    if now - landed <= timedelta(seconds=policy.deploy_deadline_seconds):
        return
    states = [live.get(i.application) for i in items]
    behind = [(s, i) for s, i in zip(states, items, strict=True) if not (s and s.versions == [i.to_version])]
    late = "; ".join(f"{i.application}{_now_runs(s)} ({s.health if s else 'not observed'}{_why(s)})" for s, i in behind)
    if waiting_on:
        summaries = {(s.operator or {}).get("summary", "") for s in states if s is not None} - {""}
        late = "; ".join(filter(None, [late, f"{waiting_on} had not applied it: {', '.join(sorted(summaries))}"]))
    message = f"not running in {promotion.to_stage} {policy.deploy_deadline_seconds}s after it landed: {late}"
    _move(promotion, State.FAILED, message, error=message, failure_cause="deadline")


def _operator_applied(promotion: Promotion, items: list[PromotionItem], live: dict[str, LiveState],
                      operator: OperatorConfig, ancestry: _Ancestry, now: datetime) -> bool:  # fmt: skip
    """Whether the stage's operator applied a revision containing the promotion's commit for every
    item it applies (an item no operator object applies is left to the workloads). Fails the
    promotion, with the operator's message, when the operator failed on such a revision."""
    change = promotion.merge_commit or promotion.commit
    applied = []
    for item in items:
        state = (live[item.application].operator if item.application in live else None) or {}
        if not state.get("kind"):
            continue  # no Kustomization or Application applies it: the workloads alone tell
        inside = ancestry.contains(promotion.repository, change, state.get("revision", ""))
        helm = state.get("helm") or {}
        if inside and helm and failing(helm):
            who = f"HelmRelease {helm['namespace']}/{helm['name']}"
            return _operator_failed(promotion, operator, item.application, who, helm)
        if inside:
            applied.append(f"{item.application} at {state['revision'][:7]}")
            continue
        attempted = state.get("attempted", "")
        tried = ancestry.contains(promotion.repository, change, attempted)
        if failing(state) and tried:
            return _operator_failed(promotion, operator, item.application, f"{state['kind']} "
                                    f"{state['namespace']}/{state['name']}", state)  # fmt: skip
        return False
    if promotion.applied_at is None and applied:
        _record_applied(promotion, operator, ", ".join(applied), now)
    return True


def _operator_failed(promotion: Promotion, operator: OperatorConfig, application: str, who: str,
                     state: dict[str, Any]) -> bool:  # fmt: skip
    cause = f"{state.get('reason', '')}: {state.get('message', '')}".strip(": ")
    message = f"{operator.title} could not apply {application} in {promotion.to_stage}: {who}: {cause}"
    _move(promotion, State.FAILED, message, error=message, failure_cause="operator")
    return False


def _record_applied(promotion: Promotion, operator: OperatorConfig, what: str, now: datetime) -> None:
    """`applied_at` once, on the timeline: the operator applied a revision containing the change."""
    with transaction.atomic():
        if not Promotion.objects.filter(pk=promotion.pk, applied_at__isnull=True).update(applied_at=now):
            return
        audit_record(
            action="promotion.applied", actor=ACTOR, promotion=promotion, stage=promotion.to_stage,
            message=f"{operator.title} applied a revision containing the change: {what}",
            applications=[i.application for i in promotion.items.all()],
            targets={"promotion": promotion.pk, "repository": promotion.repository},
        )  # fmt: skip
    promotion.applied_at = now


def _deployed(promotion: Promotion, items: list[PromotionItem], live: dict[str, LiveState], policy: PromotionPolicy,
              now: datetime) -> None:  # fmt: skip
    states = [live.get(i.application) for i in items]
    for state, item in zip(states, items, strict=True):
        if state is not None and state.health == LiveState.Health.DEGRADED:
            message = f"{item.application} in {promotion.to_stage} became Degraded after deploying: {state.reason}"
            _move(promotion, State.FAILED, message, error=message, failure_cause="rollout")
            return
    healthy = all(s is not None and s.health == LiveState.Health.HEALTHY and s.versions == [i.to_version]
                  for s, i in zip(states, items, strict=True))  # fmt: skip
    deployed = promotion.deployed_at or now
    if healthy and now - deployed >= timedelta(seconds=policy.soak_seconds):
        _move(promotion, State.VERIFIED, f"healthy in {promotion.to_stage} for {policy.soak_seconds}s since deploying")


def _now_runs(state: LiveState | None) -> str:
    if state is None or not state.versions:
        return ""
    return f" (runs {', '.join(state.versions)})"


def _why(state: LiveState | None) -> str:
    return f": {state.reason}" if state and state.reason else ""


def _move(promotion: Promotion, to: str, message: str, **fields: Any) -> None:
    transition(promotion, to, expect=[promotion.state], actor=ACTOR, message=message, **fields)
