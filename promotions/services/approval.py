"""Reviews: approving, rejecting, the policy that decides when a promotion may merge,
and mirroring GitHub reviews."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction

from promotions.audit import audit_record
from promotions.config import Catalog, catalog_get
from promotions.errors import PortalError
from promotions.models import Approval, Profile, Promotion
from promotions.permissions import Who, approve_refusal, require, who
from promotions.services.promotion import PromotionError, transition
from promotions.services.webhooks import checks_failing

State = Promotion.State
REVIEWABLE = (State.PR_OPEN, State.APPROVED)


@dataclass
class ApprovalStatus:
    required: int
    counted: list[Approval] = field(default_factory=list)
    blocking: list[Approval] = field(default_factory=list)  # changes requested
    ignored: list[tuple[Approval, str]] = field(default_factory=list)  # and why

    @property
    def satisfied(self) -> bool:
        return len(self.counted) >= self.required and not self.blocking

    @property
    def summary(self) -> str:
        names = ", ".join(a.reviewer for a in self.counted)
        text = f"{len(self.counted)} of {self.required} approvals" + (f" ({names})" if names else "")
        if self.blocking:
            text += "; changes requested by " + ", ".join(a.reviewer for a in self.blocking)
        return text


def approval_status(promotion: Promotion, catalog: Catalog) -> ApprovalStatus:
    """Which decisions count: each reviewer's latest, on the current content, by an
    approver who is not the requester (unless the stage allows self-approval)."""
    stage = catalog.stage(promotion.to_stage)
    assert stage is not None
    status = ApprovalStatus(stage.promotion.required(promotion.kind))
    latest: dict[str, Approval] = {}
    for approval in promotion.approvals.select_related("user").order_by("created_at", "id"):
        latest[_reviewer_key(approval)] = approval
    for approval in latest.values():
        reason = _why_not(approval, promotion, catalog)
        if reason:
            status.ignored.append((approval, reason))
        elif approval.decision == Approval.Decision.APPROVED:
            status.counted.append(approval)
        elif approval.decision == Approval.Decision.CHANGES_REQUESTED:
            status.blocking.append(approval)
    return status


def _reviewer_key(approval: Approval) -> str:
    """Whose decision this is: the portal user, else the outside login (never confused with a
    portal user of the same name: an unlinked GitHub `bob` is not bob)."""
    return f"user:{approval.user_id}" if approval.user_id else f"{approval.source}:{approval.reviewer.lower()}"


def _why_not(approval: Approval, promotion: Promotion, catalog: Catalog) -> str:
    if approval.commit and promotion.commit and approval.commit != promotion.commit:
        return "given on an earlier version of the change"
    if approval.user is None:
        return (f"GitHub user {approval.reviewer} is not linked to a portal user (an admin links it: "
                f"manage.py identity_links link USERNAME --github {approval.reviewer})")  # fmt: skip
    if not approval.user.is_active:
        return f"{approval.user.get_username()}'s portal account is deactivated"
    return approve_refusal(who(approval.user, catalog), catalog, promotion) or ""


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
            from promotions.services.executor import promotion_merge

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
    from promotions.services.executor import close_pull_request

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


def reviews_mirror(*, promotion: Promotion, reviews: list[tuple[int, str, str, str, str]], catalog: Catalog) -> None:
    """Record GitHub reviews (id, login, state, body, commit) not seen before, then re-evaluate."""
    known = set(promotion.approvals.filter(github_review_id__isnull=False).values_list("github_review_id", flat=True))
    decisions = {"APPROVED": Approval.Decision.APPROVED, "CHANGES_REQUESTED": Approval.Decision.CHANGES_REQUESTED}
    for review_id, login, state, body, commit in reviews:
        if review_id in known or state not in decisions:
            continue
        user = _github_user(login)
        Approval.objects.create(promotion=promotion, user=user, reviewer=user.get_username() if user else login,
                                source="github", decision=decisions[state], comment=body, commit=commit,
                                github_review_id=review_id)  # fmt: skip
        audit_record(action=f"approval.github_{state.lower()}", actor=login, message=body or state.lower(),
                     promotion=promotion, stage=promotion.to_stage, targets={"review": review_id})  # fmt: skip
    approvals_evaluate(promotion=promotion, catalog=catalog)


def _github_user(login: str) -> User | None:
    """The portal user an admin linked to this GitHub login (GitHub logins ignore case); a login
    that merely equals a username is nobody. Whether the user is active is checked when counting."""
    profile = Profile.objects.filter(github_login__iexact=login).select_related("user").first() if login else None
    return profile.user if profile else None


def inbox(*, actor: Who, catalog: Catalog) -> list[Promotion]:
    """Open pull requests this user may approve and has not approved in their current form."""
    waiting = Promotion.objects.filter(state__in=REVIEWABLE).select_related("requested_by").prefetch_related("items")
    mine = []
    for promotion in waiting:
        if approve_refusal(actor, catalog, promotion) is not None:
            continue
        done = promotion.approvals.filter(user=actor.user, commit=promotion.commit, decision=Approval.Decision.APPROVED)
        if not done.exists():
            mine.append(promotion)
    return mine
