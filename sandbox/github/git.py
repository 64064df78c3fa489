"""Git plumbing on the stand-in's bare repositories (no work trees, no config needed).

Branch tips are always read live, because clients push to the repositories with plain
`git push` behind the stand-in's back, exactly as they would to github.com.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

COMMITTER = ("GitHub", "noreply@github.com")


class GitError(RuntimeError):
    """A git command failed in a way the stand-in does not expect."""


@dataclass(frozen=True)
class CommitInfo:
    """The parts of a commit object the API renders."""

    sha: str
    tree: str
    parents: list[str]
    author_name: str
    author_email: str
    author_date: str
    committer_name: str
    committer_email: str
    committer_date: str
    message: str


def run(
    repo: Path, *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run `git --git-dir=repo args…`; raise GitError on failure when `check`."""
    proc = subprocess.run(
        ["git", f"--git-dir={repo}", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1", **(env or {})},
    )
    if check and proc.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def init_bare(path: Path, default_branch: str) -> None:
    """Create an empty bare repository whose HEAD points at `default_branch`."""
    path.mkdir(parents=True, exist_ok=True)
    run(path, "init", "--quiet", "--bare", f"--initial-branch={default_branch}")


def head_branch(repo: Path) -> str:
    """The branch a bare repository's HEAD points at (its default branch)."""
    return run(repo, "symbolic-ref", "--short", "HEAD").stdout.strip()


def resolve(repo: Path, ref: str) -> str | None:
    """The commit sha `ref` (a sha, branch or tag) names, or None."""
    proc = run(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    return proc.stdout.strip() or None


def branch_sha(repo: Path, branch: str) -> str | None:
    """The tip of `refs/heads/<branch>`, or None when the branch does not exist."""
    return resolve(repo, f"refs/heads/{branch}")


def branches(repo: Path) -> dict[str, str]:
    """Every branch tip at once (one process, for listing many pull requests)."""
    output = run(repo, "for-each-ref", "--format=%(refname:strip=2) %(objectname)", "refs/heads").stdout
    return dict(line.rsplit(" ", 1) for line in output.splitlines() if line)


def count_commits(repo: Path, base: str, head: str) -> int:
    """How many commits `head` has that `base` has not (`git rev-list --count base..head`)."""
    return int(run(repo, "rev-list", "--count", f"{base}..{head}").stdout.strip())


def new_commits(repo: Path, old: str, new: str) -> list[str]:
    """Commits reachable from `new` but not `old`, oldest first."""
    return run(repo, "rev-list", "--reverse", f"{old}..{new}").stdout.split()


def merge_tree(repo: Path, base: str, head: str) -> str | None:
    """The tree of merging `head` into `base`, or None when they conflict."""
    proc = run(repo, "merge-tree", "--write-tree", "--no-messages", base, head, check=False)
    if proc.returncode == 1:
        return None
    if proc.returncode != 0:
        raise GitError(f"git merge-tree: {proc.stderr.strip()}")
    return proc.stdout.split()[0]


def commit_tree(repo: Path, tree: str, parents: list[str], message: str, author: tuple[str, str]) -> str:
    """Write a commit object for `tree` with `parents`; author is the acting user, committer GitHub."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    env = {
        "GIT_AUTHOR_NAME": author[0],
        "GIT_AUTHOR_EMAIL": author[1],
        "GIT_AUTHOR_DATE": now,
        "GIT_COMMITTER_NAME": COMMITTER[0],
        "GIT_COMMITTER_EMAIL": COMMITTER[1],
        "GIT_COMMITTER_DATE": now,
    }
    parent_args = [arg for parent in parents for arg in ("-p", parent)]
    return run(repo, "commit-tree", tree, *parent_args, "-m", message, env=env).stdout.strip()


def update_ref(repo: Path, branch: str, new: str, old: str) -> bool:
    """Move `branch` from `old` to `new` atomically; False when someone moved it first."""
    return run(repo, "update-ref", f"refs/heads/{branch}", new, old, check=False).returncode == 0


def diff_stats(repo: Path, base: str, head: str) -> tuple[int, int, int]:
    """(additions, deletions, changed files) of `head` against its merge base with `base`."""
    output = run(repo, "diff", "--numstat", f"{base}...{head}").stdout
    rows = [line.split("\t") for line in output.splitlines() if line]
    additions = sum(int(row[0]) for row in rows if row[0].isdigit())
    deletions = sum(int(row[1]) for row in rows if row[1].isdigit())
    return additions, deletions, len(rows)


def commit_info(repo: Path, sha: str) -> CommitInfo:
    """Read one commit object."""
    fields = "%x00".join(["%H", "%T", "%P", "%an", "%ae", "%aI", "%cn", "%ce", "%cI", "%B"])
    out = run(repo, "show", "-s", f"--format={fields}", sha).stdout
    sha_, tree, parents, an, ae, ad, cn, ce, cd, message = out.split("\x00", 9)
    return CommitInfo(sha_, tree, parents.split(), an, ae, ad, cn, ce, cd, message.rstrip("\n"))
