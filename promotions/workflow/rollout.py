"""After Git: follow a landed promotion until its stage's cluster runs it, healthy.

committed/merged → syncing (Git has it, the cluster not yet) → deployed (the cluster
runs the new version) → verified (healthy for the stage's soak time), or failed with
the reason (the rollout degraded, or nothing ran it within the deploy deadline). Stale
live state (not read for a while) moves nothing: what ran then says nothing about now.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from promotions.catalogue.lookups import Catalog
from promotions.catalogue.schema import PromotionPolicy
from promotions.cluster.observe import is_stale
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
    landed = Promotion.objects.filter(state__in=Promotion.ROLLOUT_STATES).prefetch_related("items")
    for promotion in landed:
        stage = catalog.stage(promotion.to_stage)
        if stage is None or stage.cluster is None:
            continue
        before = promotion.state
        _advance(promotion, stage.promotion, timezone.now())
        if promotion.state != before:
            moved.append(promotion.pk)
    return moved


def _advance(promotion: Promotion, policy: PromotionPolicy, now: datetime) -> None:
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
            _move(promotion, State.FAILED, message, error=message)
            return
    landed = promotion.landed_at or promotion.updated_at
    if now - landed > timedelta(seconds=policy.deploy_deadline_seconds):
        behind = [(s, i) for s, i in zip(states, items, strict=True) if not (s and s.versions == [i.to_version])]
        late = "; ".join(
            f"{i.application}{_now_runs(s)} ({s.health if s else 'not observed'}{_why(s)})" for s, i in behind
        )
        message = f"not running in {promotion.to_stage} {policy.deploy_deadline_seconds}s after it landed: {late}"
        _move(promotion, State.FAILED, message, error=message)


def _deployed(promotion: Promotion, items: list[PromotionItem], live: dict[str, LiveState], policy: PromotionPolicy,
              now: datetime) -> None:  # fmt: skip
    states = [live.get(i.application) for i in items]
    for state, item in zip(states, items, strict=True):
        if state is not None and state.health == LiveState.Health.DEGRADED:
            message = f"{item.application} in {promotion.to_stage} became Degraded after deploying: {state.reason}"
            _move(promotion, State.FAILED, message, error=message)
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
