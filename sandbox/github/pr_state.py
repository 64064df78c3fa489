"""Live git facts about a pull request: current shas, mergeability, size.

GitHub recomputes these as branches move; so does the stand-in, on every read of an open
pull request (clients push with plain git, the stand-in is never told).
"""

from __future__ import annotations

from typing import Any

from sandbox.github import git
from sandbox.github.render import pull_detail_json
from sandbox.github.routing import Urls
from sandbox.github.store import PullRequest, Repository


def refresh(repo: Repository, pr: PullRequest, tips: dict[str, str] | None = None) -> PullRequest:
    """Re-read head and base tips while the PR is open (a deleted branch keeps its last sha).

    `tips` (from `git.branches`) saves a git call per PR when refreshing many.
    """
    if pr.state == "open":
        tips = git.branches(repo.path) if tips is None else tips
        pr.head_sha = tips.get(pr.head_ref, pr.head_sha)
        pr.base_sha = tips.get(pr.base_ref, pr.base_sha)
    return pr


def is_mergeable(repo: Repository, pr: PullRequest) -> bool:
    """Whether head merges into base without conflicts, right now."""
    return git.merge_tree(repo.path, pr.base_sha, pr.head_sha) is not None


def detail_extra(repo: Repository, pr: PullRequest) -> dict[str, Any]:
    """The single-PR-only fields: mergeable, mergeable_state, commits and diff size."""
    # GitHub answers null once a PR is closed or merged: there is nothing left to compute.
    mergeable = is_mergeable(repo, pr) if pr.state == "open" else None
    commits = git.count_commits(repo.path, pr.base_sha, pr.head_sha)
    additions, deletions, changed = git.diff_stats(repo.path, pr.base_sha, pr.head_sha)
    return {
        "mergeable": mergeable,
        "mergeable_state": _mergeable_state(pr, mergeable),
        "rebaseable": False,
        "commits": commits,
        "additions": additions,
        "deletions": deletions,
        "changed_files": changed,
    }


def detail(urls: Urls, repo: Repository, pr: PullRequest) -> dict[str, Any]:
    """The full single-PR object, refreshed from git first."""
    refresh(repo, pr)
    return pull_detail_json(urls, repo, pr, detail_extra(repo, pr))


def _mergeable_state(pr: PullRequest, mergeable: bool | None) -> str:
    if mergeable is None:
        return "unknown"
    if pr.draft:
        return "draft"
    return "clean" if mergeable else "dirty"
