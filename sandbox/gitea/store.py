"""The stand-in's state: users, repositories, pull requests and what hangs off them, under one lock.

Git content (branches, commits) lives in the bare repositories, not here; these records
hold only what Gitea keeps in its database beside git: pull request metadata, comments,
labels, reviews, commit statuses, and the default branch's protection.
"""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sandbox.gitea.errors import not_found

if TYPE_CHECKING:
    from sandbox.gitea.webhooks import GiteaDispatcher

FLAVOURS = ("gitea", "forgejo")


def now() -> datetime:
    """The current time at Gitea's one-second resolution."""
    return datetime.now(UTC).replace(microsecond=0)


@dataclass
class Label:
    """A repository label; Gitea stores the colour with "#", the API shows it without."""

    id: int
    name: str
    color: str
    description: str = ""
    exclusive: bool = False


@dataclass
class Comment:
    """A conversation comment on a pull request (an issue comment)."""

    id: int
    user: str
    body: str
    created_at: datetime


@dataclass
class Review:
    """A pull request review; `state` is Gitea's API name (APPROVED, REQUEST_CHANGES, COMMENT, PENDING)."""

    id: int
    user: str
    state: str
    body: str
    commit_id: str
    submitted_at: datetime
    dismissed: bool = False


@dataclass
class Status:
    """A commit status (`POST /repos/{o}/{r}/statuses/{sha}`)."""

    id: int
    sha: str
    state: str
    context: str
    description: str
    target_url: str
    creator: str
    created_at: datetime


@dataclass
class PullRequest:
    """A pull request; `head_sha`/`base_sha` are refreshed from git while it is open."""

    id: int
    number: int
    title: str
    body: str
    user: str
    head_ref: str
    base_ref: str
    head_sha: str
    base_sha: str
    created_at: datetime
    updated_at: datetime
    state: str = "open"
    closed_at: datetime | None = None
    merged_at: datetime | None = None
    merged_by: str | None = None
    merge_commit_sha: str | None = None
    labels: list[int] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)

    @property
    def merged(self) -> bool:
        return self.merged_at is not None


@dataclass
class Protection:
    """The default branch's protection rule (Gitea's `ProtectedBranch`, reduced to what merges check).

    `block_on_failed_status` is Gitea's `enable_status_check` with no `status_check_contexts`:
    every status on the head counts, and the combined state must be success.
    """

    required_approvals: int = 0
    block_on_failed_status: bool = False
    ignore_stale_approvals: bool = False

    @property
    def active(self) -> bool:
        return self.required_approvals > 0 or self.block_on_failed_status


@dataclass
class Repository:
    """A repository served by the stand-in, backed by the bare git repository at `path`."""

    id: int
    owner: str
    name: str
    path: Path
    default_branch: str
    created_at: datetime
    protection: Protection = field(default_factory=Protection)
    labels: dict[int, Label] = field(default_factory=dict)
    pulls: dict[int, PullRequest] = field(default_factory=dict)
    statuses: list[Status] = field(default_factory=list)
    next_number: int = 1

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def clone_url(self) -> str:
        return self.path.resolve().as_uri()

    def protection_for(self, branch: str) -> Protection | None:
        """The rule guarding `branch` (only the default branch is ever protected here)."""
        return self.protection if branch == self.default_branch and self.protection.active else None


class Store:
    """Users, repositories and id sequences; callers hold `lock` while reading or writing."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.repos: dict[str, Repository] = {}
        self.users: dict[str, int] = {}
        self._ids: defaultdict[str, itertools.count[int]] = defaultdict(lambda: itertools.count(1))

    def next_id(self, table: str) -> int:
        """The next id in `table` (Gitea's ids are per-table sequences from 1)."""
        return next(self._ids[table])

    def user_id(self, login: str) -> int:
        """`login`'s id, handed out in order of first use."""
        if login not in self.users:
            self.users[login] = self.next_id("user")
        return self.users[login]

    def add_repo(self, owner: str, name: str, path: Path, default_branch: str, protection: Protection) -> Repository:
        """Register a repository; Gitea names are case-insensitive, so keys are lower-cased."""
        self.user_id(owner)
        repo = Repository(self.next_id("repo"), owner, name, Path(path), default_branch, now(), protection)
        self.repos[repo.full_name.lower()] = repo
        return repo

    def repo(self, owner: str, name: str) -> Repository:
        """The repository `owner/name`, or Gitea's 404."""
        found = self.repos.get(f"{owner}/{name}".lower())
        if found is None:
            raise not_found()
        return found

    def pull(self, repo: Repository, index: str | int) -> PullRequest:
        """Pull request `index` of `repo`, or Gitea's 404 (an index that is no number is 0: not found)."""
        found = repo.pulls.get(int(index)) if str(index).isdigit() else None
        if found is None:
            raise not_found()
        return found


@dataclass
class Backend:
    """What handlers work on: the state, the webhook dispatcher and the flavour being imitated."""

    store: Store
    hooks: GiteaDispatcher
    flavour: str = "gitea"
