"""What happened to a promotion's pull request on the hosting side (seen by a webhook or the
sweeper): pushed to, merged or closed."""

from __future__ import annotations

from django.utils import timezone

from promotions.audit.chain import audit_record
from promotions.models import Promotion
from promotions.workflow.execute import promotion_landed
from promotions.workflow.state import transition
from promotions.workflow.tidy import promotion_branch_delete

State = Promotion.State
WAITING = (State.PR_OPEN, State.APPROVED)


def pull_request_changed(*, promotion: Promotion, head: str) -> None:
    """Someone pushed to the promotion's branch: what was approved is no longer what would merge."""
    before = promotion.commit
    Promotion.objects.filter(pk=promotion.pk).update(commit=head)
    promotion.commit = head
    audit_record(action="promotion.content_changed", actor="system", promotion=promotion, stage=promotion.to_stage,
                 message=f"the pull request changed ({before[:10]} → {head[:10]}); earlier approvals no longer count",
                 before={"commit": before}, after={"commit": head})  # fmt: skip


def pull_request_ended(*, promotion: Promotion, state: str, merge_commit: str | None) -> bool:
    """The pull request was merged (`state` "merged") or closed without merging ("closed") on the
    hosting side; the promotion follows. True when it moved."""
    if state == "merged":
        message = f"merged on {promotion.repository}'s hosting as {(merge_commit or '?')[:10]}"
        moved = transition(promotion, State.MERGED, expect=WAITING, actor="system", message=message,
                           merge_commit=merge_commit or "", landed_at=timezone.now())  # fmt: skip
        if moved:  # landed like a merge in the portal: a rollback pins, a promotion by hand lifts the pin
            promotion_landed(promotion)
        return moved
    if state == "closed":
        message = "the pull request was closed without merging"
        moved = transition(promotion, State.CANCELLED, expect=WAITING, actor="system", message=message)
        if moved:
            promotion_branch_delete(promotion=promotion)
        return moved
    return False
