"""Git plumbing for the GitLab stand-in: the GitHub stand-in's generic helpers, plus what GitLab needs.

Branch tips are always read live, because clients push with plain `git push` behind the
stand-in's back, exactly as they would to gitlab.com.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sandbox.github.git import (
    CommitInfo,
    GitError,
    branch_sha,
    branches,
    commit_info,
    diff_stats,
    head_branch,
    init_bare,
    merge_tree,
    new_commits,
    resolve,
    run,
    update_ref,
)

__all__ = [
    "ZERO_SHA",
    "CommitInfo",
    "GitError",
    "branch_sha",
    "branches",
    "branches_containing",
    "commit_as",
    "commit_info",
    "delete_branch",
    "diff_stats",
    "head_branch",
    "init_bare",
    "merge_base",
    "merge_tree",
    "new_commits",
    "resolve",
    "update_ref",
]

ZERO_SHA = "0" * 40  # GitLab's `before`/`after` for a branch created or deleted


def commit_as(repo: Path, tree: str, parents: list[str], message: str, identity: tuple[str, str]) -> str:
    """Write a commit of `tree` with `parents`, authored and committed by `identity` (GitLab commits
    merges as the user who accepts them)."""
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    name, email = identity
    env = {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_AUTHOR_DATE": when,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
        "GIT_COMMITTER_DATE": when,
    }
    parent_args = [arg for parent in parents for arg in ("-p", parent)]
    return run(repo, "commit-tree", tree, *parent_args, "-m", message, env=env).stdout.strip()


def merge_base(repo: Path, one: str, other: str) -> str | None:
    """The best common ancestor of two commits, or None when they share no history."""
    return run(repo, "merge-base", one, other, check=False).stdout.strip() or None


def branches_containing(repo: Path, sha: str) -> list[str]:
    """Names of the branches whose history contains `sha`, sorted."""
    proc = run(repo, "for-each-ref", "--format=%(refname:strip=2)", "--contains", sha, "refs/heads", check=False)
    return sorted(proc.stdout.split())


def delete_branch(repo: Path, branch: str, expected: str) -> bool:
    """Delete `branch` if it still points at `expected`; False when it moved or is gone."""
    return run(repo, "update-ref", "-d", f"refs/heads/{branch}", expected, check=False).returncode == 0
