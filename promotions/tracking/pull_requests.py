"""What happened to a promotion's pull request on the hosting side (seen by a webhook or the
sweeper): pushed to, merged or closed."""

from __future__ import annotations

from django.utils import timezone

from promotions.audit.chain import audit_record
from promotions.catalogue.lookups import Catalog
from promotions.hosting.base import ScmProvider
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


def pull_request_poll(*, promotion: Promotion, provider: ScmProvider, catalog: Catalog) -> str | None:
    """Bring a promotion's pull request up to date from its host: merged or closed there (returns
    "merged" or "closed" when the promotion moved), pushed to (earlier approvals stop counting), or
    reviewed there (reviews from linked users count like portal approvals)."""
    from promotions.reviews.approvals import approvals_evaluate, reviews_mirror

    number = promotion.pull_request_number
    assert number is not None
    ended = None
    if provider.name != "local":  # the host keeps the pull request's state
        pr = provider.get(number=number)
        if pr.state != "open":
            moved = pull_request_ended(promotion=promotion, state=pr.state, merge_commit=pr.merge_commit)
            ended = pr.state if moved else None
        head = pr.head_sha
    else:
        head = provider.head(promotion.pr_branch)
    if ended is None and head and promotion.commit and head != promotion.commit:
        pull_request_changed(promotion=promotion, head=head)
        approvals_evaluate(promotion=promotion, catalog=catalog)
    # Reviews given before a merge on the host are recorded too (who approved what merged there);
    # for a promotion that has moved on they no longer change its state.
    reviews = provider.reviews(number=number)
    if reviews or provider.name == "gitlab":
        rows = [(r.id, r.login, r.state, r.body, r.commit) for r in reviews]
        reviews_mirror(
            promotion=promotion, reviews=rows, catalog=catalog, host=provider.name, complete=provider.name == "gitlab"
        )  # GitLab lists the approvals standing now
    return ended
