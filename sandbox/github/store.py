"""The stand-in's state: repositories, pull requests and what hangs off them, under one lock.

Git content (branches, commits) lives in the bare repositories, not here; these records
hold only what GitHub keeps beside git: PR metadata, comments, labels, reviews, statuses.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sandbox.github.errors import not_found

if TYPE_CHECKING:
    from sandbox.github.webhooks import Dispatcher


def now() -> datetime:
    """The current time at GitHub's one-second resolution."""
    return datetime.now(UTC).replace(microsecond=0)


@dataclass
class Label:
    """A repository label (created on first use, as GitHub does when labelling an issue)."""

    id: int
    name: str
    color: str = "ededed"
    description: str | None = None


@dataclass
class Comment:
    """A conversation comment on a pull request (an issue comment)."""

    id: int
    body: str
    user: str
    created_at: datetime
    updated_at: datetime


@dataclass
class Review:
    """A submitted (or pending) pull request review."""

    id: int
    user: str
    body: str
    state: str
    commit_id: str
    submitted_at: datetime | None


@dataclass
class Status:
    """A commit status (`POST /repos/{o}/{r}/statuses/{sha}`)."""

    id: int
    sha: str
    state: str
    context: str
    description: str | None
    target_url: str | None
    creator: str
    created_at: datetime
    updated_at: datetime


@dataclass
class PullRequest:
    """A pull request; `head_sha`/`base_sha` are refreshed from git while it is open."""

    id: int
    number: int
    title: str
    body: str | None
    user: str
    head_ref: str
    base_ref: str
    head_sha: str
    base_sha: str
    draft: bool
    created_at: datetime
    updated_at: datetime
    state: str = "open"
    closed_at: datetime | None = None
    merged_at: datetime | None = None
    merged_by: str | None = None
    merge_commit_sha: str | None = None
    labels: list[str] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)

    @property
    def merged(self) -> bool:
        return self.merged_at is not None


@dataclass
class Repository:
    """A repository served by the stand-in, backed by the bare git repository at `path`."""

    id: int
    owner: str
    name: str
    path: Path
    default_branch: str
    created_at: datetime
    private: bool = True
    labels: dict[str, Label] = field(default_factory=dict)
    pulls: dict[int, PullRequest] = field(default_factory=dict)
    statuses: list[Status] = field(default_factory=list)
    next_number: int = 1

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def clone_url(self) -> str:
        return self.path.resolve().as_uri()


@dataclass(frozen=True)
class Quota:
    """A user's core rate-limit window, as the `X-RateLimit-*` headers report it."""

    limit: int
    used: int
    reset: int

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)


class Store:
    """All repositories plus an id sequence; callers hold `lock` while reading or writing."""

    RATE_LIMIT = 5000

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.repos: dict[str, Repository] = {}
        self._ids = itertools.count(1000)
        self._used: dict[str, int] = {}
        self._reset = int(time.time()) + 3600

    def quota(self, login: str, spend: int = 0) -> Quota:
        """`login`'s rate-limit window after spending `spend` calls (GitHub: 5000 an hour)."""
        if time.time() >= self._reset:
            self._used, self._reset = {}, int(time.time()) + 3600
        self._used[login] = self._used.get(login, 0) + spend
        return Quota(self.RATE_LIMIT, self._used[login], self._reset)

    def next_id(self) -> int:
        return next(self._ids)

    def add_repo(self, owner: str, name: str, path: Path, default_branch: str) -> Repository:
        """Register a repository; GitHub names are case-insensitive, so keys are lower-cased."""
        repo = Repository(self.next_id(), owner, name, Path(path), default_branch, now())
        self.repos[repo.full_name.lower()] = repo
        return repo

    def repo(self, owner: str, name: str) -> Repository:
        """The repository `owner/name`, or GitHub's 404."""
        found = self.repos.get(f"{owner}/{name}".lower())
        if found is None:
            raise not_found()
        return found

    def pull(self, repo: Repository, number: str | int) -> PullRequest:
        """Pull request `number` of `repo`, or GitHub's 404."""
        found = repo.pulls.get(int(number)) if str(number).isdigit() else None
        if found is None:
            raise not_found()
        return found

    def label(self, repo: Repository, name: str) -> Label:
        """The repository label `name`, created on first use."""
        key = name.lower()
        if key not in repo.labels:
            repo.labels[key] = Label(self.next_id(), name)
        return repo.labels[key]


@dataclass
class Backend:
    """What handlers work on: the state and the webhook dispatcher."""

    store: Store
    hooks: Dispatcher
