"""Requesting, previewing, dispatching and cancelling promotions.

The rules live here; the Celery task only calls `promotion_execute` with an id.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from promotions.audit.chain import audit_record
from promotions.catalogue.lookups import Catalog
from promotions.errors import PermanentError, PortalError
from promotions.gitops.yaml.edit import Edit
from promotions.gitops.yaml.locators import version_problem
from promotions.matrix.history import application_history_get
from promotions.matrix.relation import Side, first_seen, rollbacks_known, version_compare
from promotions.models import Pin, Promotion, PromotionItem, RepositoryState, StageVersion
from promotions.notifications.deliver import notify_transition
from promotions.queue import task_send
from promotions.text import free_text, text_problem
from promotions.workflow.freeze import active_freeze, describe
from promotions.workflow.permissions import Denied, Who, cancel_refusal, request_refusal, require, who
from promotions.workflow.state import event, transition
from promotions.workflow.store import NotReadYet, store_unread
from promotions.workflow.tidy import promotion_branch_delete

log = logging.getLogger(__name__)


class PromotionError(PermanentError):
    """The request cannot be honoured as asked; the message says why."""


@dataclass
class Planned:
    """What a request resolves to before anything is stored: per application, the
    target file and the versions (used by the request and by the preview)."""

    repository: str
    items: list[PromotionItem]
    errors: list[str] = field(default_factory=list)
    # Items that would install an older version than the target runs (ordered as the matrix orders them).
    downgrades: list[PromotionItem] = field(default_factory=list)


def promotion_plan(
    *, catalog: Catalog, applications: Sequence[str], from_stage: str, to_stage: str, version: str | None = None
) -> Planned:
    """Resolve a request against the stored matrix; PromotionError for anything wrong. Whether
    the path from `from_stage` is allowed is `path_refusal`'s to say (an admin may override it)."""
    stages = catalog.stage_names
    for stage in {from_stage, to_stage} - {""}:
        if stage not in stages:
            raise PromotionError(f"unknown stage {stage!r} (stages: {', '.join(stages)})")
    names = list(dict.fromkeys(applications))
    if not names:
        raise PromotionError("name at least one application")
    if version and len(names) > 1:
        raise PromotionError(
            "an explicit version applies to one application; promote a bundle at its upstream versions"
        )
    cells = {(c.application, c.stage): c for c in StageVersion.objects.filter(application__in=names)}
    items = [_item(catalog, cells, name, from_stage, to_stage, version) for name in names]
    repositories = {cells[name, to_stage].repository for name in names}
    if len(repositories) > 1:
        raise PromotionError(f"a bundle must stay in one repository (found {', '.join(sorted(repositories))})")
    older = rollbacks_known(applications=names)
    downgrades = [i for i in items if _downgrade(i, cells, older.get(i.application, frozenset()))]
    return Planned(repositories.pop(), items, downgrades=downgrades)


def _downgrade(
    item: PromotionItem, cells: dict[tuple[str, str], StageVersion], older: frozenset[tuple[str, str]]
) -> bool:
    """True when `item` would install an older version than its stage runs (same order as the matrix)."""
    if not item.from_version:
        return False
    sides = {stage: Side(c.version, changed_at=c.changed_at) for (app, stage), c in cells.items()
             if app == item.application}  # fmt: skip
    return version_compare(item.to_version, item.from_version, first_seen(sides), older) == -1


def path_refusal(catalog: Catalog, source: str, target: str) -> str:
    """Why a promotion may not go from `source` to `target` ("" when it may): along an edge of the
    stage graph (from an upstream) or from a stage the target lists in `promotion.from`."""
    sources = catalog.promotion_sources(target)
    if not source or source in sources or target not in catalog.stage_names:
        return ""
    allowed = f"only from {', '.join(sources)}" if sources else "from no stage (a first stage: releases come from CI)"
    return f"{target} takes promotions {allowed}, not from {source} (to allow it: {target}'s promotion.from)"


def check_path(catalog: Catalog, source: str, target: str, actor: Who, override_reason: str) -> dict[str, str] | None:
    """PromotionError for a promotion off the stage graph's edges, unless an admin overrides
    with a written reason (returned, to be recorded)."""
    refusal = path_refusal(catalog, source, target)
    if not refusal:
        return None
    if not override_reason.strip():
        hint = "; as an admin you may override with a written reason" if actor.admin else "; an admin may override"
        raise PromotionError(refusal + hint)
    if not actor.admin:
        raise Denied(f"{refusal}; only an admin may override the promotion path")
    return {"by": actor.name, "reason": override_reason.strip(), "path": f"{source} → {target}"}


def check_downgrade(plan: Planned, stage: str, kind: str, allowed: bool) -> list[dict[str, str]]:
    """The plan's downgrades (to be marked on the promotion); PromotionError for a promotion that
    has any unless explicitly allowed. A rollback is a downgrade by nature, never refused."""
    found = [{"application": i.application, "from": i.from_version, "to": i.to_version} for i in plan.downgrades]
    if found and kind == Promotion.Kind.PROMOTE and not allowed:
        listed = ", ".join(f"{d['application']} {d['from']} → {d['to']}" for d in found)
        raise PromotionError(
            f"downgrade: {listed} would install an older version than {stage} runs; allow it explicitly "
            "(allow_downgrade: true in the API, --allow-downgrade on the command line, the confirmation on the page)"
        )
    return found


def _item(
    catalog: Catalog,
    cells: dict[tuple[str, str], StageVersion],
    name: str,
    source: str,
    target: str,
    version: str | None,
) -> PromotionItem:
    if not any(app == name for app, _ in cells):
        if unread := store_unread(catalog=catalog):  # unknown only for want of a read: say so
            raise NotReadYet(unread)
        raise PromotionError(f"unknown application {name!r}")
    goal = cells.get((name, target))
    if goal is None or goal.path is None:
        raise PromotionError(f"{name} is not in {target}: there is no file to promote into")
    if goal.error:
        raise PromotionError(f"{name} in {target} cannot be read: {goal.error}")
    upstream = cells.get((name, source)) if source else None
    wanted = version or (upstream.version if upstream else None)
    if not wanted and upstream is not None and upstream.error:
        raise PromotionError(f"{name} in {source} cannot be read: {upstream.error}")
    if not wanted:
        raise PromotionError(f"{name} has no version in {source or 'any stage'} to promote; give one explicitly")
    if version and source and (upstream is None or version != upstream.version):
        _check_known(catalog, name, goal.repository, source, version)
    spec = catalog.application(name, goal.repository)
    stage_file = spec.files.get(target) if spec else None
    if stage_file is not None and (problem := version_problem(stage_file.locator, wanted)):
        raise PromotionError(f"{name} in {target}: {problem}")
    # The stage's own file: where a layered or inherited version is read from another file, the
    # promotion still writes here (and the preview says so).
    own = stage_file.path if stage_file is not None else goal.path
    return PromotionItem(application=name, path=own, from_version=goal.version or "", to_version=wanted)


def _check_known(catalog: Catalog, name: str, repository: str, stage: str, version: str) -> None:
    state = RepositoryState.objects.filter(name=repository).first()
    history = application_history_get(
        catalog=catalog, name=name, repository=repository, commit=state.commit if state else ""
    )
    known = list(dict.fromkeys(e.version for e in history.get(stage, []) if e.version))
    if version not in known:
        listed = ", ".join(known[:8]) or "none"
        raise PromotionError(f"{name} {version} was never in {stage} (known there: {listed})")


@transaction.atomic
def promotion_request(
    *,
    catalog: Catalog,
    applications: Sequence[str],
    from_stage: str,
    to_stage: str,
    version: str | None = None,
    reason: str = "",
    requested_by: User | None = None,
    kind: str = Promotion.Kind.PROMOTE,
    metadata: dict[str, Any] | None = None,
    actor: str = "",
    override_reason: str = "",
    allow_downgrade: bool = False,
    lift_pin_reason: str = "",
) -> Promotion:
    """Record a promotion and hand it to a worker once the record is committed.

    Refused (Denied) for a user who may not request into the stage; refused off the stage
    graph's edges and during a freeze unless an admin gives a written override, for a
    downgrade unless `allow_downgrade`, and over a rollback's pin unless the person says why
    they lift it (`lift_pin_reason`) — each recorded on the promotion and audited."""
    reason, override_reason = _checked_text(reason, override_reason, version, metadata or {})
    if problem := text_problem(lift_pin_reason, multiline=True):
        raise PromotionError(f"lift_pin_reason: {problem}")
    lift_pin_reason = free_text(lift_pin_reason)
    requester = who(requested_by, catalog)
    if to_stage in catalog.stage_names:
        require(request_refusal(requester, catalog, to_stage))
    plan = promotion_plan(
        catalog=catalog, applications=applications, from_stage=from_stage, to_stage=to_stage, version=version
    )
    stage = catalog.stage(to_stage)
    assert stage is not None
    path = check_path(catalog, from_stage, to_stage, requester, override_reason)
    if kind == Promotion.Kind.RELEASE:
        _refuse_pinned(plan, to_stage)
    lifted = _pins_lifted(plan, to_stage, lift_pin_reason) if kind == Promotion.Kind.PROMOTE else []
    override = check_freeze(catalog, to_stage, requester, override_reason)
    downgrades = check_downgrade(plan, to_stage, kind, allow_downgrade)
    metadata = (metadata or {}) | ({"freeze_override": override} if override else {})
    metadata |= ({"path_override": path} if path else {}) | ({"downgrade": downgrades} if downgrades else {})
    metadata |= {"pin_lift": {"reason": lift_pin_reason, "pins": lifted}} if lifted else {}
    promotion = Promotion.objects.create(
        kind=kind,
        mode=stage.promotion.mode,
        repository=plan.repository,
        branch=catalog.repository(plan.repository).branch,
        from_stage=from_stage,
        to_stage=to_stage,
        requested_by=requested_by,
        reason=reason,
        metadata=metadata or {},
        nonce=secrets.token_hex(16),
    )
    for item in plan.items:
        item.promotion = promotion
    PromotionItem.objects.bulk_create(plan.items)
    name = actor or (requested_by.get_username() if requested_by else "system")
    event(promotion, Promotion.State.QUEUED, name, f"requested: {promotion.title}")
    notify_transition(promotion, Promotion.State.QUEUED)
    if override:
        audit_record(action="promotion.freeze_override", actor=name, message=override["reason"], promotion=promotion,
                     stage=to_stage, after=override)  # fmt: skip
    if path:
        audit_record(action="promotion.path_override", actor=name, message=path["reason"], promotion=promotion,
                     stage=to_stage, after=path)  # fmt: skip
    if downgrades and kind == Promotion.Kind.PROMOTE:
        listed = ", ".join(f"{d['application']} {d['from']} → {d['to']}" for d in downgrades)
        audit_record(action="promotion.downgrade", actor=name, message=f"downgrade allowed: {listed}",
                     promotion=promotion, stage=to_stage, after={"downgrade": downgrades})  # fmt: skip
    if lifted:
        listed = ", ".join(f"{p['application']} at {p['version']} (rollback #{p['rollback']})" for p in lifted)
        audit_record(action="pin.lift_requested", actor=name, message=f"{lift_pin_reason} — lifts the pin of {listed}",
                     promotion=promotion, stage=to_stage,
                     after={"pins": lifted, "reason": lift_pin_reason})  # fmt: skip
    transaction.on_commit(lambda: promotion_dispatch(promotion_id=promotion.pk))
    return promotion


def _pins_lifted(plan: Planned, stage: str, reason: str) -> list[dict[str, Any]]:
    """The pins a promotion by hand would lift (it lifts them when it lands); PromotionError when
    there are some and no reason was given: a rollback held that version on purpose."""
    names = [item.application for item in plan.items]
    pins = list(Pin.objects.filter(stage=stage, application__in=names).order_by("application"))
    if pins and not reason.strip():
        listed = ", ".join(f"{p.application} at {p.version} since rollback #{p.promotion_id}" for p in pins)
        raise PromotionError(
            f"pinned in {stage}: {listed}; promoting lifts the pin, so say why (lift_pin_reason in the API, "
            "--lift-pin-reason on the command line, the confirmation on the page)"
        )
    return [{"application": p.application, "version": p.version, "rollback": p.promotion_id} for p in pins]


def _checked_text(reason: str, override_reason: str, version: str | None, metadata: dict[str, Any]) -> tuple[str, str]:
    """User text goes into commit messages: single-line fields must be single lines, free text
    may have line breaks but no other control characters (PromotionError naming the field)."""
    single = {"version": version or ""} | {key: str(value) for key, value in metadata.items()}
    for name, value in single.items():
        if problem := text_problem(value):
            raise PromotionError(f"{name}: {problem}")
    for name, value in (("reason", reason), ("override_reason", override_reason)):
        if problem := text_problem(value, multiline=True):
            raise PromotionError(f"{name}: {problem}")
    return free_text(reason), free_text(override_reason)


def check_freeze(
    catalog: Catalog, stage: str, actor: Who, override_reason: str, promotion: Promotion | None = None
) -> dict[str, str] | None:
    """PromotionError during a freeze, unless an admin overrides with a reason (returned)."""
    config = catalog.stage(stage)
    window = active_freeze(config.promotion, timezone.now()) if config else None
    if window is None:
        return None
    frozen = f"{stage} is frozen: {describe(window)}"
    if not override_reason.strip():
        hint = "; as an admin you may override with a written reason" if actor.admin else "; an admin may override"
        raise PromotionError(frozen + hint)
    if not actor.admin:
        raise Denied(f"{frozen}; only an admin may override a freeze")
    override = {"by": actor.name, "reason": override_reason.strip(), "window": describe(window)}
    if promotion is not None:
        audit_record(action="promotion.freeze_override", actor=actor.name, message=override["reason"],
                     promotion=promotion, stage=stage, after=override)  # fmt: skip
    return override


def _refuse_pinned(plan: Planned, stage: str) -> None:
    pins = {
        p.application: p for p in Pin.objects.filter(stage=stage, application__in=[i.application for i in plan.items])
    }
    for item in plan.items:
        pin = pins.get(item.application)
        if pin is not None:
            raise PromotionError(
                f"{item.application} is pinned in {stage} at {pin.version} since rollback #{pin.promotion_id}; "
                "only a promotion by hand moves it on"
            )


def promotion_dispatch(*, promotion_id: int) -> bool:
    """Send the promotion to the task queue. If the queue is unreachable, the request stays
    recorded as queued and the sweeper sends it when the queue is back."""
    if task_send("promotion_execute_task", promotion_id):
        promotion = Promotion.objects.get(pk=promotion_id)
        event(
            promotion,
            promotion.state,
            "system",
            "queued; the task queue is unreachable, it will be sent when it is back",
        )
        return False
    Promotion.objects.filter(pk=promotion_id).update(dispatched_at=timezone.now())
    return True


def promotion_cancel(*, promotion: Promotion, actor: Who, reason: str = "") -> None:
    """Cancel a promotion that is waiting (queued, or with its pull request open)."""
    from django.conf import settings

    from promotions.catalogue.loader import catalog_get
    from promotions.workflow.execute import close_pull_request

    require(cancel_refusal(actor, catalog_get(settings.GITOPS_PORTAL_CONFIG), promotion))
    cancellable = (Promotion.State.QUEUED, Promotion.State.PR_OPEN, Promotion.State.APPROVED)
    if promotion.state not in cancellable:
        raise PromotionError(
            f"promotion #{promotion.pk} is {promotion.state}; only waiting promotions can be cancelled"
        )
    message = f"cancelled by {actor.name}" + (f": {reason}" if reason else "")
    if promotion.pull_request_number:  # closed first: a failure here leaves the promotion as it was
        close_pull_request(promotion, comment=f"Cancelled in GitOps Portal by {actor.name}. {reason}".strip())
    if not transition(promotion, Promotion.State.CANCELLED, expect=cancellable, actor=actor.name, message=message):
        promotion.refresh_from_db()
        raise PromotionError(f"promotion #{promotion.pk} moved on to {promotion.state} meanwhile")
    promotion_branch_delete(promotion=promotion)


@dataclass
class Preview:
    plan: Planned
    edits: list[Edit]
    commit: str
    path_problem: str = ""  # off the stage graph's edges: shown to an admin, who may override it
    pins: list[Pin] = field(default_factory=list)  # rollbacks' pins this promotion would lift

    @property
    def diff(self) -> str:
        return "".join(edit.diff() for edit in self.edits if edit.changed)


def promotion_preview(
    *,
    catalog: Catalog,
    applications: Sequence[str],
    from_stage: str,
    to_stage: str,
    version: str | None = None,
    actor: Who | None = None,
) -> Preview:
    """The exact change a request would propose, computed on the branch's current head;
    PromotionError for a path off the graph's edges, unless `actor` is an admin who may override."""
    from promotions.workflow.execute import edits_at

    plan = promotion_plan(
        catalog=catalog, applications=applications, from_stage=from_stage, to_stage=to_stage, version=version
    )
    path_problem = path_refusal(catalog, from_stage, to_stage)
    if path_problem and not (actor and actor.admin):
        raise PromotionError(path_problem + "; an admin may override")
    from promotions.catalogue.connect import git_repository

    git = git_repository(catalog.repository(plan.repository))
    try:
        head = git.sync()
    except PortalError as exc:
        raise PromotionError(str(exc)) from None
    pins = list(Pin.objects.filter(stage=to_stage, application__in=[i.application for i in plan.items]))
    return Preview(plan, edits_at(git, head, catalog, to_stage, plan.items), head, path_problem, pins)
