"""Reviews: approving, rejecting, and mirroring reviews given on the hosting side."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction

from promotions.audit.chain import audit_record
from promotions.catalogue.loader import catalog_get
from promotions.catalogue.lookups import Catalog
from promotions.errors import PortalError
from promotions.models import Approval, Profile, Promotion
from promotions.reviews.checks import checks_failing
from promotions.reviews.policy import REVIEWABLE, ApprovalStatus, approval_status
from promotions.workflow.permissions import Who, approve_refusal, merge_refusal, require, who
from promotions.workflow.request import PromotionError
from promotions.workflow.state import transition
from promotions.workflow.tidy import promotion_branch_delete

State = Promotion.State


def approval_submit(*, promotion: Promotion, actor: Who, comment: str = "", source: str = "ui") -> ApprovalStatus:
    """Approve the promotion's current content; merge right away if the stage auto-merges."""
    catalog = catalog_get(settings.GITOPS_PORTAL_CONFIG)
    require(approve_refusal(actor, catalog, promotion))
    if promotion.state not in REVIEWABLE:
        raise PromotionError(f"promotion #{promotion.pk} is {promotion.state}; only an open pull request is approved")
    assert actor.user is not None
    with transaction.atomic():
        Approval.objects.create(
            promotion=promotion, user=actor.user, reviewer=actor.name, source=source,
            decision=Approval.Decision.APPROVED, comment=comment, commit=promotion.commit,
        )  # fmt: skip
        audit_record(action="approval.approved", actor=actor.name, message=comment or "approved",
                     promotion=promotion, stage=promotion.to_stage, targets={"promotion": promotion.pk},
                     after={"commit": promotion.commit})  # fmt: skip
    return approvals_evaluate(promotion=promotion, catalog=catalog)


def approvals_evaluate(*, promotion: Promotion, catalog: Catalog) -> ApprovalStatus:
    """Move between pr_open and approved as the counted approvals say; auto-merge."""
    status = approval_status(promotion, catalog)
    if status.satisfied and promotion.state == State.PR_OPEN:
        transition(
            promotion, State.APPROVED, expect=[State.PR_OPEN], actor="portal", message=f"approved: {status.summary}"
        )
        stage = catalog.stage(promotion.to_stage)
        blocked = checks_failing(promotion)
        if stage and stage.promotion.auto_merge and blocked:
            audit_record(action="promotion.auto_merge_held", actor="portal", promotion=promotion,
                         message=f"not merged automatically: failing checks {', '.join(blocked)}")  # fmt: skip
        elif stage and stage.promotion.auto_merge:
            from promotions.reviews.merge import promotion_merge

            try:
                promotion_merge(promotion=promotion, actor=who(None, catalog))
            except PortalError as exc:
                audit_record(action="promotion.auto_merge_failed", actor="portal", message=str(exc),
                             promotion=promotion, stage=promotion.to_stage)  # fmt: skip
    elif not status.satisfied and promotion.state == State.APPROVED:
        transition(promotion, State.PR_OPEN, expect=[State.APPROVED], actor="portal",
                   message=f"no longer approved: {status.summary}")  # fmt: skip
    return status


def promotion_reject(*, promotion: Promotion, actor: Who, reason: str, source: str = "ui") -> None:
    """Refuse the promotion: its pull request is closed with the reason."""
    from promotions.workflow.execute import close_pull_request

    catalog = catalog_get(settings.GITOPS_PORTAL_CONFIG)
    require(approve_refusal(actor, catalog, promotion))
    if not reason.strip():
        raise PromotionError("a rejection needs a reason (it is shown to the requester and on the pull request)")
    if promotion.state not in REVIEWABLE:
        raise PromotionError(f"promotion #{promotion.pk} is {promotion.state}; only an open pull request is rejected")
    if promotion.pull_request_number:
        close_pull_request(promotion, comment=f"Rejected in GitOps Portal by {actor.name}: {reason.strip()}")
    with transaction.atomic():
        Approval.objects.create(
            promotion=promotion, user=actor.user, reviewer=actor.name, source=source,
            decision=Approval.Decision.REJECTED, comment=reason.strip(), commit=promotion.commit,
        )  # fmt: skip
        transition(promotion, State.REJECTED, expect=REVIEWABLE, actor=actor.name,
                   message=f"rejected by {actor.name}: {reason.strip()}", error=reason.strip())  # fmt: skip
    promotion_branch_delete(promotion=promotion, catalog=catalog)


def reviews_mirror(*, promotion: Promotion, reviews: list[tuple[int, str, str, str, str]], catalog: Catalog,
                   host: str = "github", complete: bool = False) -> None:  # fmt: skip
    """Record reviews from the Git host (id, login, state, body, commit) not seen before, then re-evaluate.
    `complete`: the list is every approval standing now (GitLab's), so an approval recorded earlier
    and missing from it was withdrawn on the host and is recorded as such."""
    standing = {login.lower() for _id, login, state, _body, _commit in reviews if state == "APPROVED"}
    withdrawn = _withdrawn(promotion, host, standing) if complete else {}
    known = set(promotion.approvals.filter(host_review_id__isnull=False).values_list("host_review_id", flat=True))
    decisions = {"APPROVED": Approval.Decision.APPROVED, "CHANGES_REQUESTED": Approval.Decision.CHANGES_REQUESTED}
    for review_id, login, state, body, commit in reviews:
        key = f"{host}:{review_id}"
        if state == "DISMISSED":  # GitHub, Gitea: a review taken back no longer decides anything
            _dismissed(promotion, host, key, known)
            continue
        if login.lower() in withdrawn:  # approved again after a withdrawal: a new decision of its own
            key = f"{key}#{withdrawn[login.lower()]}"
        if key in known or state not in decisions:
            continue
        user = host_user(host, login)
        Approval.objects.create(promotion=promotion, user=user, reviewer=user.get_username() if user else login,
                                source=host, host_login=login, decision=decisions[state], comment=body, commit=commit,
                                host_review_id=key)  # fmt: skip
        audit_record(action=f"approval.{host}_{state.lower()}", actor=login, message=body or state.lower(),
                     promotion=promotion, stage=promotion.to_stage,
                     targets={"review": review_id, "host": host})  # fmt: skip
    approvals_evaluate(promotion=promotion, catalog=catalog)


def _dismissed(promotion: Promotion, host: str, key: str, known: set[str | None]) -> None:
    """Record, once, that the decision a host review gave was dismissed there."""
    given = promotion.approvals.filter(host_review_id=key).first()
    if given is None or f"{key}:dismissed" in known:
        return
    Approval.objects.create(promotion=promotion, user=given.user, reviewer=given.reviewer, source=host,
                            host_login=given.host_login, decision=Approval.Decision.WITHDRAWN, commit=given.commit,
                            comment=f"review dismissed on {host}", host_review_id=f"{key}:dismissed")  # fmt: skip
    audit_record(action=f"approval.{host}_dismissed", actor=given.host_login or given.reviewer,
                 message=f"{given.reviewer}'s review dismissed on {host}", promotion=promotion,
                 stage=promotion.to_stage, targets={"host": host, "review": key})  # fmt: skip


def _withdrawn(promotion: Promotion, host: str, standing: set[str]) -> dict[str, int]:
    """Record a withdrawal for each host login whose latest decision was an approval no longer standing;
    returns, per login, how many withdrawals it has (so an approval given again is told apart)."""
    latest: dict[str, Approval] = {}
    withdrawals: dict[str, int] = {}
    for approval in promotion.approvals.filter(source=host).exclude(host_login="").order_by("created_at", "id"):
        login = approval.host_login.lower()
        latest[login] = approval
        withdrawals[login] = withdrawals.get(login, 0) + (approval.decision == Approval.Decision.WITHDRAWN)
    for login, approval in latest.items():
        if approval.decision == Approval.Decision.APPROVED and login not in standing:
            Approval.objects.create(promotion=promotion, user=approval.user, reviewer=approval.reviewer, source=host,
                                    host_login=approval.host_login, decision=Approval.Decision.WITHDRAWN,
                                    commit=approval.commit, comment=f"approval withdrawn on {host}")  # fmt: skip
            audit_record(action=f"approval.{host}_withdrawn", actor=approval.host_login,
                         message=f"approval withdrawn on {host}", promotion=promotion, stage=promotion.to_stage,
                         targets={"host": host})  # fmt: skip
            withdrawals[login] = withdrawals.get(login, 0) + 1
    return {login: count for login, count in withdrawals.items() if count}


def host_user(host: str, login: str) -> User | None:
    """The portal user an admin linked to this login on the Git host (logins ignore case on every
    host); a login that merely equals a username is nobody. Whether the user is active is checked
    when counting."""
    field = Profile.HOST_FIELDS.get(host)
    if not login or field is None:
        return None
    profile = Profile.objects.filter(**{f"{field}__iexact": login}).select_related("user").first()
    return profile.user if profile else None


@dataclass(frozen=True)
class InboxItem:
    """A promotion waiting for this user, and what they may still do with it."""

    promotion: Promotion
    to_approve: bool  # may review it and has not approved its current content
    to_merge: bool  # its reviews are satisfied and this user may merge it
    review: ApprovalStatus  # which reviews count, worked out once for the list and the page


def inbox(*, actor: Who, catalog: Catalog) -> list[InboxItem]:
    """Open pull requests this user may review and has not approved in their current form, and
    approved ones this user may merge (approving is not the end of an approver's part)."""
    waiting = Promotion.objects.filter(state__in=REVIEWABLE).select_related("requested_by").prefetch_related("items")
    mine = []
    for promotion in waiting.order_by("pk"):
        to_approve = approve_refusal(actor, catalog, promotion) is None and not approved_by(promotion, actor)
        review = approval_status(promotion, catalog)
        to_merge = merge_refusal(actor, catalog, promotion) is None and review.satisfied
        if to_approve or to_merge:
            mine.append(InboxItem(promotion, to_approve, to_merge, review))
    return mine


def approved_by(promotion: Promotion, actor: Who) -> bool:
    """Whether this user's approval of the promotion's current content is recorded (their Approve
    button has nothing left to do)."""
    if actor.user is None:
        return False
    return promotion.approvals.filter(
        user=actor.user, commit=promotion.commit, decision=Approval.Decision.APPROVED
    ).exists()
