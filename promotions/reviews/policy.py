"""Which reviews count: each reviewer's latest decision, on the current content, by an approver
who is not the requester (unless the stage allows it), linked and active."""

from __future__ import annotations

from dataclasses import dataclass, field

from promotions.accounts.identities import HOST_TITLES
from promotions.catalogue.lookups import Catalog
from promotions.models import Approval, Promotion
from promotions.workflow.permissions import approve_refusal, who

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
        host = HOST_TITLES.get(approval.source, approval.source)
        return (f"{host} user {approval.reviewer} is not linked to a portal user (an admin links it: "
                f"manage.py identity_links link USERNAME --{approval.source} {approval.reviewer})")  # fmt: skip
    if not approval.user.is_active:
        return f"{approval.user.get_username()}'s portal account is deactivated"
    return approve_refusal(who(approval.user, catalog), catalog, promotion) or ""
