"""The stand-in's state: users, projects, merge requests and what hangs off them, under one lock.

Git content (branches, commits) lives in the bare repositories, not here; these records
hold only what GitLab keeps beside git: merge request metadata, notes, labels,
approvals, commit statuses and the pipelines they make up.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sandbox.gitlab.errors import not_found, project_not_found

if TYPE_CHECKING:
    from sandbox.gitlab.webhooks import Dispatcher

DEFAULT_LABEL_COLOR = "#6699cc"  # what GitLab gives a label created by naming it on a merge request


def now() -> datetime:
    """The current time at GitLab's millisecond resolution."""
    now_ = datetime.now(UTC)
    return now_.replace(microsecond=now_.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class User:
    """A GitLab user, created the first time one of its tokens is used."""

    id: int
    username: str


@dataclass
class Label:
    """A project label (created on first use when a merge request names it, as GitLab does)."""

    id: int
    name: str
    color: str = DEFAULT_LABEL_COLOR
    description: str | None = None


@dataclass
class Note:
    """A comment on a merge request (the stand-in writes no system notes)."""

    id: int
    body: str
    author: User
    created_at: datetime
    updated_at: datetime


@dataclass
class CommitStatus:
    """An external commit status: a job of the pipeline for its sha and ref."""

    id: int
    sha: str
    ref: str
    name: str
    status: str
    author: User
    pipeline_id: int
    created_at: datetime
    description: str | None = None
    target_url: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass
class Pipeline:
    """The pipeline GitLab makes for external statuses on one (sha, ref); `jobs` keeps retried ones too."""

    id: int
    iid: int
    sha: str
    ref: str
    created_at: datetime
    updated_at: datetime
    jobs: list[CommitStatus] = field(default_factory=list)

    def latest(self) -> list[CommitStatus]:
        """The newest job per name (the ones that count; older ones were retried)."""
        newest: dict[str, CommitStatus] = {}
        for job in self.jobs:
            newest[job.name] = job
        return sorted(newest.values(), key=lambda job: job.id)


@dataclass
class MergeRequest:
    """A merge request; `sha` (the source head) is refreshed from git while it is open."""

    id: int
    iid: int
    title: str
    description: str | None
    author: User
    source_branch: str
    target_branch: str
    sha: str
    created_at: datetime
    updated_at: datetime
    state: str = "opened"
    labels: list[str] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    approved_by: list[User] = field(default_factory=list)
    shas: list[str] = field(default_factory=list)  # every commit seen in the MR, for its pipelines
    has_conflicts: bool = False
    broken: bool = False  # a branch is gone: GitLab's "broken_status"
    merged_by: User | None = None
    merged_at: datetime | None = None
    merge_commit_sha: str | None = None
    closed_by: User | None = None
    closed_at: datetime | None = None
    should_remove_source_branch: bool | None = None


@dataclass
class Project:
    """A project served by the stand-in, backed by the bare git repository at `path`."""

    id: int
    namespace: str
    name: str
    path: Path
    default_branch: str
    created_at: datetime
    pipeline_must_succeed: bool = False
    approvals_required: int = 0
    labels: dict[str, Label] = field(default_factory=dict)
    merge_requests: dict[int, MergeRequest] = field(default_factory=dict)
    pipelines: list[Pipeline] = field(default_factory=list)
    next_iid: int = 1
    next_pipeline_iid: int = 1

    @property
    def full_path(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def clone_url(self) -> str:
        return self.path.resolve().as_uri()


class Store:
    """All users and projects plus id sequences; callers hold `lock` while reading or writing."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.users: dict[str, User] = {}
        self.projects: dict[int, Project] = {}
        self._paths: dict[str, int] = {}
        self._project_ids = itertools.count(1)
        self._ids = itertools.count(1000)

    def next_id(self) -> int:
        """An id for notes, labels, merge requests (their global id), statuses and pipelines."""
        return next(self._ids)

    def user(self, username: str) -> User:
        """The user `username`, created (with the next id, from 1) on first use."""
        if username not in self.users:
            self.users[username] = User(len(self.users) + 1, username)
        return self.users[username]

    def add_project(self, namespace: str, name: str, path: Path, default_branch: str) -> Project:
        """Register a project; the next project id, paths case-insensitive as on GitLab."""
        project = Project(next(self._project_ids), namespace, name, Path(path), default_branch, now())
        self.projects[project.id] = project
        self._paths[project.full_path.lower()] = project.id
        return project

    def project(self, ref: str | int) -> Project:
        """The project with numeric id or full path `ref` ("group/sub/name"), or GitLab's 404."""
        key = str(ref)
        found = self.projects.get(int(key)) if key.isdigit() else None
        found = found or self.projects.get(self._paths.get(key.lower(), -1))
        if found is None:
            raise project_not_found()
        return found

    def merge_request(self, project: Project, iid: str | int) -> MergeRequest:
        """Merge request `iid` of `project`, or GitLab's 404 "Not found"."""
        found = project.merge_requests.get(int(iid)) if str(iid).isdigit() else None
        if found is None:
            raise not_found()
        return found

    def label(self, project: Project, name: str) -> Label:
        """The project label `name` (case-insensitive), created on first use."""
        key = name.lower()
        if key not in project.labels:
            project.labels[key] = Label(self.next_id(), name)
        return project.labels[key]


@dataclass
class Backend:
    """What handlers work on: the state and the webhook dispatcher."""

    store: Store
    hooks: Dispatcher
