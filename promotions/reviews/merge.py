"""Merging a promotion's pull request once its reviews allow it."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from promotions.catalogue.connect import git_repository, provider_for
from promotions.catalogue.loader import catalog_get
from promotions.errors import PermanentError
from promotions.models import Promotion
from promotions.workflow.execute import State, committer, lock_wait, promotion_landed, refresh_after_landing
from promotions.workflow.locks import branch_lock
from promotions.workflow.permissions import Who, merge_refusal, require
from promotions.workflow.state import transition


def promotion_merge(*, promotion: Promotion, actor: Who, override_reason: str = "") -> Promotion:
    """Merge an open promotion pull request into its branch (a real git merge for `local`),
    once its approvals are there, outside a freeze (or with an admin's written override)."""
    from promotions.reviews.policy import approval_status
    from promotions.workflow.request import check_freeze

    catalog = catalog_get(settings.GITOPS_PORTAL_CONFIG)
    require(merge_refusal(actor, catalog, promotion))
    mergeable = (State.PR_OPEN, State.APPROVED)
    if promotion.state not in mergeable or promotion.pull_request_number is None:
        raise PermanentError(f"promotion #{promotion.pk} is {promotion.state}; only an open pull request can be merged")
    status = approval_status(promotion, catalog)
    if not status.satisfied:
        raise PermanentError(f"promotion #{promotion.pk} cannot be merged yet: {status.summary}")
    check_freeze(catalog, promotion.to_stage, actor, override_reason, promotion=promotion)
    repo_config = catalog.repository(promotion.repository)
    git = git_repository(repo_config)
    provider = provider_for(repo_config, git=git, portal_url=settings.GITOPS_PORTAL_URL)
    with branch_lock(promotion.repository, promotion.branch, timeout=lock_wait()):
        sha = provider.merge(number=promotion.pull_request_number, branch=promotion.pr_branch, base=promotion.branch,
                             title=promotion.title, committer=committer())  # fmt: skip
    transition(promotion, State.MERGED, expect=mergeable, actor=actor.name,
               message=f"merged into {promotion.branch} as {sha[:10]} by {actor.name}", merge_commit=sha,
               landed_at=timezone.now())  # fmt: skip
    promotion_landed(promotion)
    refresh_after_landing(catalog, [promotion.to_stage], promotion.repository)
    return promotion
