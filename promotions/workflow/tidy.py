"""Tidying up after promotions: older waiting promotions give way to a newer one, and promotion
branches go once they are done with.

- A promotion that lands (committed or merged), and a pull-request promotion about to open its
  pull request, supersede every older waiting promotion (queued, pr_open, approved) of the same
  application into the same stage, whatever their mode: applying the older one afterwards would
  undo the newer. Their pull requests are closed with a comment linking the newer promotion.
- The branch `gitops-portal/promotion-<id>` is deleted on the remote after a merge, a
  supersession, a cancellation or a rejection, unless the repository says
  `delete_branches: false` in the catalogue. A branch already gone is fine; a failure is said on
  the promotion's timeline and never fails anything (the branch only takes up a name).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db.models import QuerySet

from promotions.audit.chain import audit_record
from promotions.catalogue.connect import git_repository, provider_for
from promotions.catalogue.loader import catalog_get
from promotions.catalogue.lookups import Catalog
from promotions.catalogue.schema import RepositoryConfig
from promotions.errors import PortalError
from promotions.gitops.repository import GitRepository
from promotions.hosting.base import ScmProvider
from promotions.links import promotion_link
from promotions.models import Promotion
from promotions.workflow.state import transition

log = logging.getLogger(__name__)
State = Promotion.State
WAITING = (State.QUEUED, State.PR_OPEN, State.APPROVED)
ACTOR = "worker"


def promotions_supersede_older(
    *, promotion: Promotion, catalog: Catalog, git: GitRepository | None = None, provider: ScmProvider | None = None
) -> list[Promotion]:
    """Supersede the older waiting promotions of `promotion`'s applications into its stage: each
    pull request closed with a comment linking `promotion`, each branch deleted. A pull request
    that cannot be closed leaves its promotion waiting (said on its timeline), never superseded
    with its pull request still open. Returns the promotions superseded."""
    older = list(_older_waiting(promotion))
    if not older:
        return []
    repo_config = catalog.repository(promotion.repository)
    git = git or git_repository(repo_config)
    link = promotion_link(promotion.pk)
    comment = f"Superseded by promotion #{promotion.pk}: {link}"
    superseded = []
    for waiting in older:
        if waiting.pull_request_number and not _close(waiting, provider, repo_config, git, comment):
            continue
        if transition(waiting, State.SUPERSEDED, expect=WAITING, actor=ACTOR,
                      message=f"superseded by #{promotion.pk}", superseded_by=promotion):  # fmt: skip
            superseded.append(waiting)
            promotion_branch_delete(promotion=waiting, catalog=catalog, git=git)
    return superseded


def promotion_branch_delete(
    *, promotion: Promotion, catalog: Catalog | None = None, git: GitRepository | None = None
) -> None:
    """Delete the promotion's pull-request branch on the remote (once it is merged, superseded,
    cancelled or rejected), unless its repository keeps branches. Never raises."""
    branch = promotion.pr_branch
    if not branch:
        return
    try:
        catalog = catalog or catalog_get(settings.GITOPS_PORTAL_CONFIG)
        repo_config = next((r for r in catalog.repositories if r.name == promotion.repository), None)
        if repo_config is None or not repo_config.delete_branches:
            return
        deleted = (git or git_repository(repo_config)).delete_branch(branch)
    except PortalError as exc:
        log.warning("promotion %s: branch %s not deleted: %s", promotion.pk, branch, exc)
        audit_record(action="promotion.branch_kept", actor=ACTOR, promotion=promotion, stage=promotion.to_stage,
                     message=f"could not delete the branch {branch}: {exc}; it can be deleted by hand",
                     targets={"promotion": promotion.pk, "repository": promotion.repository,
                              "branch": branch})  # fmt: skip
        return
    log.info("promotion %s: branch %s %s", promotion.pk, branch, "deleted" if deleted else "was already gone")


def _close(
    waiting: Promotion, provider: ScmProvider | None, repo_config: RepositoryConfig, git: GitRepository, comment: str
) -> bool:
    """Close `waiting`'s pull request; False (said on its timeline) when the hosting refused or failed."""
    assert waiting.pull_request_number is not None
    try:
        provider = provider or provider_for(repo_config, git=git, portal_url=settings.GITOPS_PORTAL_URL)
        provider.close(number=waiting.pull_request_number, comment=comment)
    except PortalError as exc:
        audit_record(action="promotion.not_superseded", actor=ACTOR, promotion=waiting, stage=waiting.to_stage,
                     message=f"a newer promotion landed but pull request #{waiting.pull_request_number} could not "
                             f"be closed: {exc}; close it by hand",
                     targets={"promotion": waiting.pk, "repository": waiting.repository})  # fmt: skip
        return False
    return True


def _older_waiting(promotion: Promotion) -> QuerySet[Promotion]:
    apps = list(promotion.items.values_list("application", flat=True))
    return (
        Promotion.objects.filter(
            to_stage=promotion.to_stage, repository=promotion.repository, items__application__in=apps,
            pk__lt=promotion.pk, state__in=WAITING,
        )
        .distinct()
        .order_by("pk")
    )  # fmt: skip
