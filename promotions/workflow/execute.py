"""Carrying a promotion out: claim it, change the files, commit or open a pull request.

Safe to run twice for the same promotion (a redelivered task, the sweeper, a second
worker): the claim is a conditional UPDATE, writers to a branch take turns under a
lock, and a re-run finds its own earlier commit (by its `Promotion-Id:` trailer) or
its own pull request (by its branch) instead of making another.

Writers take turns, so a burst would queue behind one fetch-commit-push each. Instead the
writer holding the lock carries the branch's other queued direct commits along (`RIDERS` at
most): each still gets its own commit, on top of the one before, claimed and recorded as if
carried out alone, and one push lands them all.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from promotions.audit.chain import audit_record
from promotions.catalogue.connect import git_repository, provider_for
from promotions.catalogue.loader import catalog_get
from promotions.catalogue.lookups import Catalog, StageFile
from promotions.errors import PermanentError, PortalError, TransientError
from promotions.gitops.repository import GitRepository, Person, PushRejected
from promotions.gitops.yaml.edit import Edit, EditError, version_found, version_set
from promotions.hosting.base import ScmProvider
from promotions.links import promotion_link
from promotions.logcontext import log_context
from promotions.matrix.snapshot import inherited_version, too_big
from promotions.models import Pin, Promotion, PromotionItem
from promotions.queue import task_send
from promotions.workflow import commit_messages as messages
from promotions.workflow.locks import branch_lock
from promotions.workflow.state import event, pr_branch, transition
from promotions.workflow.tidy import promotion_branch_delete, promotions_supersede_older

log = logging.getLogger(__name__)


State = Promotion.State


PUSH_ATTEMPTS = 5


ACTOR = "worker"


def promotion_execute(*, promotion_id: int) -> Promotion:
    """Take the promotion to its next resting state (committed, pr_open, noop or failed).

    TransientError propagates after the promotion is put back to `queued`, for the
    caller (the task) to retry; everything else ends the promotion with a message.
    """
    claim = uuid.uuid4().hex
    if not _claim(promotion_id, claim):
        return Promotion.objects.get(pk=promotion_id)
    promotion = Promotion.objects.select_related("requested_by").get(pk=promotion_id)
    applications = ",".join(promotion.items.values_list("application", flat=True))
    with log_context(promotion_id=promotion.pk, application=applications, stage=promotion.to_stage):
        _execute(promotion, claim)
        log.info("promotion %s: %s", promotion.pk, promotion.state)
    return promotion


def _execute(promotion: Promotion, claim: str) -> None:
    try:
        catalog = catalog_get(settings.GITOPS_PORTAL_CONFIG)
        with branch_lock(promotion.repository, promotion.branch, timeout=lock_wait()):
            riders = _apply(promotion, catalog, claim)
        landed = [p for p in (promotion, *riders) if p.state == State.COMMITTED]
        for done in landed:
            promotion_landed(done)
        if landed:
            refresh_after_landing(catalog, sorted({p.to_stage for p in landed}), promotion.repository)
    except (TransientError, SoftTimeLimitExceeded) as exc:
        reason = str(exc) or "the task ran out of time"
        if promotion.attempts >= settings.GITOPS_PORTAL_MAX_ATTEMPTS:
            _fail(promotion, claim, f"gave up after {promotion.attempts} attempts: {reason}")
            return
        transition(promotion, State.QUEUED, expect=[State.PREPARING], claim=claim, actor=ACTOR,
                   message=f"will retry: {reason}", error=reason)  # fmt: skip
        raise TransientError(reason) from None
    except PortalError as exc:
        _fail(promotion, claim, str(exc))
    except Exception:
        log.exception("promotion %s failed unexpectedly", promotion.pk)
        _fail(promotion, claim, "internal error while applying the promotion; the portal's logs have the details")


def lock_wait() -> float:
    """Wait for the branch lock at most half a task's time; then retry later instead."""
    return max(1.0, min(60.0, settings.CELERY_TASK_SOFT_TIME_LIMIT / 2))


def refresh_after_landing(catalog: Catalog, stages: list[str], repository: str) -> None:
    """Show the new version on the dashboard now rather than at the next periodic read (only the
    repository it landed in, and only the cells the commit changed: see `matrix.snapshot`),
    and start following the stage's cluster."""
    from promotions.matrix.refresh import matrix_refresh
    from promotions.workflow.rollout import live_refresh

    try:
        matrix_refresh(catalog=catalog, repositories=[repository])
        live_refresh(catalog=catalog, stages=stages)
    except Exception:  # the promotion is done either way; the periodic refreshes catch up
        log.exception("refresh after a promotion failed")


def _claim(promotion_id: int, claim: str) -> bool:
    """Take a queued promotion, or one whose previous execution stalled (worker died)."""
    now = timezone.now()
    stalled = now - timedelta(seconds=settings.GITOPS_PORTAL_STUCK_SECONDS)
    rows = Promotion.objects.filter(pk=promotion_id).filter(
        Q(state=State.QUEUED) | Q(state=State.PREPARING, claimed_at__lt=stalled)
    )
    with transaction.atomic():  # one commit for the claim and its timeline entry
        if not rows.update(state=State.PREPARING, claim=claim, claimed_at=now, attempts=F("attempts") + 1,
                           updated_at=now):  # fmt: skip
            return False
        promotion = Promotion.objects.get(pk=promotion_id)
        event(promotion, State.PREPARING, ACTOR, f"a worker took it (attempt {promotion.attempts})")
    return True


def _fail(promotion: Promotion, claim: str, message: str) -> None:
    transition(
        promotion, State.FAILED, expect=[State.PREPARING], claim=claim, actor=ACTOR, message=message, error=message
    )


def _apply(promotion: Promotion, catalog: Catalog, claim: str) -> list[Promotion]:
    """Carry the promotion out; returns the queued direct commits carried along with it."""
    if _superseded(promotion, claim):
        return []
    repo_config = catalog.repository(promotion.repository)
    git = git_repository(repo_config)
    base = git.sync()
    if promotion.mode == Promotion.Mode.COMMIT:
        return _commit(promotion, catalog, git, base, claim)
    provider = provider_for(repo_config, git=git, portal_url=settings.GITOPS_PORTAL_URL)
    promotions_supersede_older(promotion=promotion, catalog=catalog, git=git, provider=provider)
    _pull_request(promotion, catalog, git, base, claim, provider)
    return []


def _superseded(promotion: Promotion, claim: str) -> bool:
    newer = _newer(promotion)
    if newer is None:
        return False
    message = f"superseded by #{newer.pk}, a newer promotion of the same application into {promotion.to_stage}"
    transition(promotion, State.SUPERSEDED, expect=[State.PREPARING], claim=claim, actor=ACTOR,
               message=message, superseded_by=newer)  # fmt: skip
    return True


RIDERS = 20  # queued direct commits to the same branch carried in one push


@dataclass
class _Member:
    """One promotion of a push: claimed by this execution, with its items (own stage files)."""

    promotion: Promotion
    claim: str
    items: list[PromotionItem]
    rider: bool = False


def _commit(promotion: Promotion, catalog: Catalog, git: GitRepository, base: str, claim: str) -> list[Promotion]:
    """Commit the promotion, and the riders claimed along, one commit each on top of the other, and
    push them at once; a rider that cannot be carried out fails (or ends) alone. Should the push not
    happen, the riders go back to the queue, as if never taken."""
    group = [_Member(promotion, claim, _own_paths(catalog, git.name, promotion.to_stage, list(promotion.items.all())))]
    riders = _riders(promotion, catalog, git.name)
    group += riders
    try:
        _push_group(promotion, group, catalog, git, base)
    except BaseException as exc:
        _release(riders, str(exc) or "the task ran out of time")
        raise
    return [member.promotion for member in riders]


def _push_group(promotion: Promotion, group: list[_Member], catalog: Catalog, git: GitRepository, base: str) -> None:
    ref = f"refs/remotes/origin/{promotion.branch}"
    for attempt in range(PUSH_ATTEMPTS):
        tip, written = base, []
        for member in list(group):
            p = member.promotion
            # Only a re-run can find an earlier push of its own (a first attempt skips the search).
            since = (p.created_at - timedelta(hours=1)).timestamp()
            done = (p.attempts > 1 or attempt > 0) and own_commit(git, ref, p, member.items, since=since)
            if done:  # an earlier attempt pushed it and died before saying so
                _finish(p, member.claim, State.COMMITTED, f"committed {done[:10]} to {p.branch}", commit=done,
                        landed_at=timezone.now())  # fmt: skip
                group.remove(member)
                continue
            try:
                edits = edits_at(git, tip, catalog, p.to_stage, member.items)
            except PortalError as exc:
                if not member.rider:
                    raise
                _fail(p, member.claim, str(exc))  # a rider's problem is its own
                group.remove(member)
                continue
            if _noop(p, member.items, edits, member.claim):
                group.remove(member)
                continue
            commit = _write(git, p, member.items, edits, tip)
            written.append((member, edits, commit, tip))
            tip = commit
        if not written:
            return
        try:
            git.push(tip, promotion.branch)
        except PushRejected:
            base = git.sync()
            continue
        for member, edits, commit, parent in written:
            carried = f" (pushed with #{promotion.pk})" if member.rider else ""
            _finish(member.promotion, member.claim, State.COMMITTED,
                    f"committed {commit[:10]} to {promotion.branch}{carried}", items=member.items, commit=commit,
                    base_commit=parent, diff=_diff(edits), landed_at=timezone.now())  # fmt: skip
        return
    raise TransientError(f"{promotion.branch} kept moving while pushing ({PUSH_ATTEMPTS} attempts); will retry")


def _riders(promotion: Promotion, catalog: Catalog, repository: str) -> list[_Member]:
    """Claim the branch's other queued direct commits, oldest first (a newer one of the same
    application into the same stage supersedes an older one, as when they run one by one)."""
    queued = (
        Promotion.objects.filter(state=State.QUEUED, mode=Promotion.Mode.COMMIT, repository=promotion.repository,
                                 branch=promotion.branch)
        .exclude(pk=promotion.pk).order_by("pk").values_list("pk", flat=True)[:RIDERS]
    )  # fmt: skip
    members = []
    for pk in queued:
        claim = uuid.uuid4().hex
        if not _claim(pk, claim):
            continue  # another worker took it meanwhile
        rider = Promotion.objects.select_related("requested_by").get(pk=pk)
        if _superseded(rider, claim):
            continue
        items = _own_paths(catalog, repository, rider.to_stage, list(rider.items.all()))
        members.append(_Member(rider, claim, items, rider=True))
    return members


def _release(riders: list[_Member], reason: str) -> None:
    """Riders not carried out go back to the queue, their tasks sent again."""
    for member in riders:
        if transition(member.promotion, State.QUEUED, expect=[State.PREPARING], claim=member.claim, actor=ACTOR,
                      message=f"will retry: {reason}", error=reason):  # fmt: skip
            task_send("promotion_execute_task", member.promotion.pk)


def _pull_request(
    promotion: Promotion, catalog: Catalog, git: GitRepository, base: str, claim: str, provider: ScmProvider
) -> None:
    items = list(promotion.items.all())
    branch = pr_branch(promotion.pk)
    edits = edits_at(git, base, catalog, promotion.to_stage, items)
    if _noop(promotion, items, edits, claim):
        return
    pushed = git.fetch_branch(branch)
    if pushed is None or own_commit(git, pushed, promotion, items, limit=1) != pushed:
        pushed = _write(git, promotion, items, edits, base)
        git.push(pushed, branch, force=True)  # the branch is this promotion's own
    link = promotion_link(promotion.pk)
    body = messages.pull_request_body(promotion, items, diff=_diff(edits), link=link)
    pr = provider.open(number_hint=promotion.pk, branch=branch, base=promotion.branch, title=promotion.title,
                       body=body, labels=["gitops-portal", f"stage:{promotion.to_stage}"])  # fmt: skip
    _finish(promotion, claim, State.PR_OPEN, f"pull request #{pr.number} opened: {pr.url}", items=items, commit=pushed,
            base_commit=base, pr_branch=branch, pull_request_number=pr.number, pull_request_url=pr.url,
            diff=_diff(edits))  # fmt: skip


def own_commit(
    git: GitRepository,
    ref: str,
    promotion: Promotion,
    items: list[PromotionItem],
    *,
    since: float | None = None,
    limit: int = 20,
) -> str | None:
    """An earlier push of this very promotion reachable from `ref`, if any: committed by the
    portal, with the portal's own trailer block (and the promotion's secret nonce), changing
    only the promotion's files. A commit that merely mentions `Promotion-Id: N` is not it."""
    paths = {item.path for item in items}
    for record in git.commits_with_line(ref, messages.trailer(promotion.pk), since=since, limit=limit):
        if (
            record.committer_email == committer().email
            and record.paths
            and record.paths <= paths
            and messages.is_own_message(record.message, promotion)
        ):
            return record.sha
    return None


def edits_at(git: GitRepository, base: str, catalog: Catalog, stage: str, items: list[PromotionItem]) -> list[Edit]:
    """Each item's file changed to its new version, read at `base` (nothing is written). The
    file is the stage's own (never a base or layered file other stages share); where it only
    inherits the version, the key is added to it."""
    files = [_stage_file(catalog, git.name, stage, item) for item in items]
    for item, stage_file in zip(items, files, strict=True):
        item.path = stage_file.path  # the cell may name the shared file the version came from
    entries = git.entries(base, {path for stage_file in files for path in stage_file.paths})
    tree = {path: sha for path, (_mode, sha) in entries.items()}
    missing = [item.path for item in items if item.path not in tree]
    if missing:
        raise PermanentError(f"{', '.join(missing)} no longer exist on the branch (the portal never creates a "
                             "stage's own file: add it, even empty, and promote again)")  # fmt: skip
    contents = git.read_blobs(tree.values())
    limit = settings.GITOPS_PORTAL_MAX_FILE_BYTES
    for path, sha in tree.items():  # read (a worker's memory copes) but never parsed when too big
        if (size := len(contents[sha])) > limit:
            raise PermanentError(f"refused: {path}: {too_big(size, limit)}; nothing was committed")
    edits = []
    for item, stage_file in zip(items, files, strict=True):
        content = contents[tree[item.path]]
        inherited = None  # where the stage's own file does not set the version: what it inherits
        if not version_found(content, stage_file.locator):
            inherited = inherited_version(repo=git, commit=base, stage_file=stage_file, max_bytes=limit)
        try:
            edits.append(version_set(content, path=item.path, locator=stage_file.locator, version=item.to_version,
                                     mode=entries[item.path][0], inherited=inherited))  # fmt: skip
        except EditError as exc:
            raise PermanentError(f"refused: {exc}; nothing was committed") from None
    return edits


def _own_paths(catalog: Catalog, repository: str, stage: str, items: list[PromotionItem]) -> list[PromotionItem]:
    """The items, each naming its stage's own file (where its commit wrote, for `own_commit` to
    recognise), even when the cell named a shared file the version was inherited from."""
    for item in items:
        spec = catalog.application(item.application, repository)
        if spec is not None and stage in spec.files:
            item.path = spec.files[stage].path
    return items


def _stage_file(catalog: Catalog, repository: str, stage: str, item: PromotionItem) -> StageFile:
    spec = catalog.application(item.application, repository)
    stage_file = spec.files.get(stage) if spec else None
    if stage_file is None:
        raise PermanentError(f"{item.application} is no longer in the catalogue for this stage")
    return stage_file


def _noop(promotion: Promotion, items: list[PromotionItem], edits: list[Edit], claim: str) -> bool:
    for item, edit in zip(items, edits, strict=True):
        item.from_version, item.changed = edit.old_version, edit.changed
    if any(edit.changed for edit in edits):
        return False
    has = ", ".join(f"{i.application} {i.to_version}" for i in items)
    _finish(promotion, claim, State.NOOP, f"{promotion.to_stage} already has {has}; nothing to do", items=items)
    return True


def _write(git: GitRepository, promotion: Promotion, items: list[PromotionItem], edits: list[Edit], base: str) -> str:
    files = {e.path: (e.mode, e.after) for e in edits if e.changed}
    changed = [item for item, edit in zip(items, edits, strict=True) if edit.changed]
    message = messages.commit_message(promotion, changed)
    return git.write_commit(base=base, files=files, message=message, author=_author(promotion), committer=committer())


def _author(promotion: Promotion) -> Person:
    user = promotion.requested_by
    if user is None:
        return committer()
    return Person(
        user.get_full_name() or user.get_username(), user.email or f"{user.get_username()}@gitops-portal.invalid"
    )


def committer() -> Person:
    return Person(settings.GITOPS_PORTAL_GIT_NAME, settings.GITOPS_PORTAL_GIT_EMAIL)


def _diff(edits: list[Edit]) -> str:
    return "".join(edit.diff() for edit in edits if edit.changed)


def _finish(
    promotion: Promotion,
    claim: str,
    state: str,
    message: str,
    items: list[PromotionItem] | None = None,
    **fields: object,
) -> None:
    """Record the outcome (and each item's before/after) in one transaction."""
    with transaction.atomic():
        if not transition(promotion, state, expect=[State.PREPARING], claim=claim, actor=ACTOR, message=message,
                          error="", **fields):  # fmt: skip
            log.info("promotion %s: another execution finished it first", promotion.pk)
            return
        if items:
            PromotionItem.objects.bulk_update(items, ["from_version", "changed", "path"])


def _overlapping(promotion: Promotion) -> QuerySet[Promotion]:
    apps = list(promotion.items.values_list("application", flat=True))
    return (
        Promotion.objects.filter(
            to_stage=promotion.to_stage, repository=promotion.repository, items__application__in=apps
        )
        .exclude(pk=promotion.pk)
        .distinct()
    )


def _newer(promotion: Promotion) -> Promotion | None:
    """A later promotion of the same application into the same stage wins: applying this
    one after it would undo it."""
    gone = (State.FAILED, State.CANCELLED, State.SUPERSEDED, State.REJECTED)
    return _overlapping(promotion).filter(pk__gt=promotion.pk).exclude(state__in=gone).order_by("pk").first()


def close_pull_request(promotion: Promotion, *, comment: str) -> None:
    catalog = catalog_get(settings.GITOPS_PORTAL_CONFIG)
    repo_config = catalog.repository(promotion.repository)
    provider = provider_for(repo_config, git=git_repository(repo_config), portal_url=settings.GITOPS_PORTAL_URL)
    assert promotion.pull_request_number is not None
    provider.close(number=promotion.pull_request_number, comment=comment)


def promotion_landed(promotion: Promotion) -> None:
    """A rollback pins its version in the stage; a promotion by hand lifts the pin. Then the
    tidying (never failing the landed promotion): older waiting promotions of its applications
    into the stage are superseded, whatever their mode, and its merged branch is deleted."""
    apps = list(promotion.items.values_list("application", "to_version"))
    if promotion.kind == Promotion.Kind.ROLLBACK:
        for application, version in apps:
            Pin.objects.update_or_create(application=application, stage=promotion.to_stage,
                                         defaults={"version": version, "promotion": promotion})  # fmt: skip
    elif promotion.kind == Promotion.Kind.PROMOTE:
        pins = Pin.objects.filter(stage=promotion.to_stage, application__in=[a for a, _ in apps])
        for pin in pins:
            why = (promotion.metadata.get("pin_lift") or {}).get("reason", "")
            audit_record(action="pin.lifted", actor="system", promotion=promotion, stage=promotion.to_stage,
                         message=f"{pin.application} was pinned at {pin.version} by rollback #{pin.promotion_id}"
                         + (f"; lifted because: {why}" if why else ""),
                         before={"version": pin.version, "rollback": pin.promotion_id})  # fmt: skip
        pins.delete()
    try:
        catalog = catalog_get(settings.GITOPS_PORTAL_CONFIG)
        promotions_supersede_older(promotion=promotion, catalog=catalog)
        promotion_branch_delete(promotion=promotion, catalog=catalog)
    except Exception:  # it landed either way; an older one left waiting is still refused by `_newer`
        log.exception("promotion %s: tidying after landing failed", promotion.pk)
