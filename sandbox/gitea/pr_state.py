"""Live facts about a pull request: current shas, conflicts, work in progress, and what its reviews count for.

Gitea recomputes these in background jobs as branches move; the stand-in recomputes them
on every read of an open pull request (clients push with plain git, the stand-in is never
told), so it is never "still checking".
"""

from __future__ import annotations

from sandbox.gitea.store import PullRequest, Repository, Review
from sandbox.github import git

WIP_PREFIXES = ("wip:", "[wip]")  # setting.Repository.PullRequest.WorkInProgressPrefixes
OFFICIAL_STATES = ("APPROVED", "REQUEST_CHANGES")


def refresh(repo: Repository, pr: PullRequest, tips: dict[str, str] | None = None) -> PullRequest:
    """Re-read head and base tips while the PR is open (a deleted branch keeps its last sha).

    `tips` (from `git.branches`) saves a git call per PR when refreshing many.
    """
    if pr.state == "open":
        tips = git.branches(repo.path) if tips is None else tips
        pr.head_sha = tips.get(pr.head_ref, pr.head_sha)
        pr.base_sha = tips.get(pr.base_ref, pr.base_sha)
    return pr


def is_conflicting(repo: Repository, pr: PullRequest) -> bool:
    """Whether head no longer merges cleanly into base, right now."""
    return git.merge_tree(repo.path, pr.base_sha, pr.head_sha) is None


def is_mergeable(repo: Repository, pr: PullRequest) -> bool:
    """Gitea's `mergeable` field: open, not a work in progress, and free of conflicts."""
    return pr.state == "open" and not is_work_in_progress(pr) and not is_conflicting(repo, pr)


def is_work_in_progress(pr: PullRequest) -> bool:
    """A title starting with "WIP:" or "[WIP]" (any case) marks a draft in Gitea."""
    return pr.title.lower().startswith(WIP_PREFIXES)


def is_stale(pr: PullRequest, review: Review) -> bool:
    """A review of a commit that is no longer the head (Gitea marks these stale on push)."""
    return review.commit_id != pr.head_sha


def is_official(pr: PullRequest, review: Review) -> bool:
    """Only each reviewer's latest approval or rejection counts (Gitea clears `official` on older ones)."""
    latest = [r for r in pr.reviews if r.user == review.user and r.state in OFFICIAL_STATES]
    return bool(latest) and latest[-1] is review


def approvals(pr: PullRequest, *, ignore_stale: bool) -> int:
    """Gitea's `HasEnoughApprovals` count: official, undismissed approvals (fresh ones only if asked)."""
    counted = [
        review
        for review in pr.reviews
        if review.state == "APPROVED" and is_official(pr, review) and not review.dismissed
    ]
    return sum(1 for review in counted if not (ignore_stale and is_stale(pr, review)))
