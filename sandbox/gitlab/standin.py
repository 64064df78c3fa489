"""`GitLabStandIn`: the object tests, the demo and the benchmarks hold.

It owns the server thread, the repositories under `root`, the faults and the webhook
dispatcher, and offers direct reads (`merge_requests`, `requests`, `deliveries`) for
assertions, plus the two things GitLab learns from outside its API: CI statuses
(`set_status`) and pushes (`notify_push`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sandbox.faultbook import FaultBook
from sandbox.gitlab import events, faults, git
from sandbox.gitlab.api import Api
from sandbox.gitlab.faults import Fault
from sandbox.gitlab.mr_state import refresh
from sandbox.gitlab.routing import Urls
from sandbox.gitlab.server import StandInServer
from sandbox.gitlab.statuses import record_status
from sandbox.gitlab.store import Backend, MergeRequest, Project, Store, User
from sandbox.gitlab.webhooks import DEFAULT_EVENTS, Dispatcher
from sandbox.hosting.standin import HostStandIn


@dataclass
class MergeRequestSnapshot:
    """A copy of a merge request for assertions; `sha` is the source head as git has it now."""

    iid: int
    author: str
    source_branch: str
    target_branch: str
    title: str
    description: str | None
    labels: list[str]
    state: str
    sha: str
    merge_commit_sha: str | None
    notes: list[tuple[str, str]]
    approved_by: list[str]

    @classmethod
    def of(cls, mr: MergeRequest) -> MergeRequestSnapshot:
        notes = [(note.author.username, note.body) for note in mr.notes]
        approved_by = [user.username for user in mr.approved_by]
        fields = (mr.source_branch, mr.target_branch, mr.title, mr.description, list(mr.labels), mr.state, mr.sha)
        return cls(mr.iid, mr.author.username, *fields, mr.merge_commit_sha, notes, approved_by)


class GitLabStandIn(HostStandIn[Fault]):
    """A GitLab REST API (v4) on 127.0.0.1 backed by bare repositories under `root/<namespace>/<name>.git`.

    `tokens` maps a token to its username; `read_only_tokens` (a subset) may read but not write.
    Lifecycle, faults, the request log (paths without /api/v4, still URL-encoded) and deliveries
    are `HostStandIn`'s.
    """

    server = StandInServer
    api: Api
    thread_name = "gitlab-standin"

    def __init__(
        self,
        root: Path,
        tokens: Mapping[str, str] | None = None,
        *,
        read_only_tokens: Iterable[str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.root = Path(root)
        self.host, self.port = host, port
        self.store = Store()
        self.hooks = Dispatcher()
        self.faults: FaultBook[Fault] = FaultBook()
        self.api = Api(Backend(self.store, self.hooks), self.faults, dict(tokens or {}), set(read_only_tokens))

    # -- the API and users -------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """What to hand python-gitlab as its URL: the server root (it adds /api/v4 itself)."""
        return self.url

    def add_token(self, token: str, username: str, *, read_only: bool = False) -> None:
        """Accept `token` as `username` from now on (the user is created on the token's first use)."""
        self.api.tokens[token] = username
        if read_only:
            self.api.read_only.add(token)

    def user_id(self, username: str) -> int:
        """The id GitLab gave `username` when one of its tokens was first used (KeyError before that)."""
        with self.store.lock:
            return self.store.users[username].id

    # -- projects ------------------------------------------------------------------------------

    def create_repository(
        self,
        namespace: str,
        name: str,
        default_branch: str = "main",
        *,
        pipeline_must_succeed: bool = False,
        approvals_required: int = 0,
    ) -> Path:
        """Create an empty bare repository at `root/namespace/name.git` and serve it as the next project id;
        `namespace` may be nested ("group/sub"). Returns its path."""
        path = self.root / namespace / f"{name}.git"
        git.init_bare(path, default_branch)
        return self.add_repository(
            namespace, name, path, pipeline_must_succeed=pipeline_must_succeed, approvals_required=approvals_required
        )

    def add_repository(
        self,
        namespace: str,
        name: str,
        path: Path,
        *,
        default_branch: str | None = None,
        pipeline_must_succeed: bool = False,
        approvals_required: int = 0,
    ) -> Path:
        """Serve an existing bare repository (not copied); the default branch is its HEAD unless given."""
        path = Path(path)
        with self.store.lock:
            project = self.store.add_project(namespace, name, path, default_branch or git.head_branch(path))
            project.pipeline_must_succeed = pipeline_must_succeed
            project.approvals_required = approvals_required
        return path

    def adopt_existing(self) -> list[str]:
        """Serve every `root/<namespace…>/<name>.git` not yet served; returns their full paths."""
        adopted = []
        with self.store.lock:
            known = {project.path.resolve() for project in self.store.projects.values()}
            for path in sorted(self.root.rglob("*.git")):
                if (path / "HEAD").is_file() and path.resolve() not in known:
                    namespace = path.parent.relative_to(self.root).as_posix()
                    self.add_repository(namespace, path.name.removesuffix(".git"), path)
                    adopted.append(f"{namespace}/{path.name.removesuffix('.git')}")
        return adopted

    def project_id(self, namespace: str, name: str) -> int:
        with self.store.lock:
            return self.store.project(f"{namespace}/{name}").id

    def clone_url(self, namespace: str, name: str) -> str:
        """The file:// URL clients fetch from and push to with plain git."""
        with self.store.lock:
            return self.store.project(f"{namespace}/{name}").clone_url

    def merge_requests(self, namespace: str, name: str) -> list[MergeRequestSnapshot]:
        """Copies of the project's merge requests, by iid (open ones re-read from git first)."""
        with self.store.lock:
            project = self.store.project(f"{namespace}/{name}")
            tips = git.branches(project.path)
            found = sorted(project.merge_requests.items())
            return [MergeRequestSnapshot.of(refresh(project, mr, tips)) for _, mr in found]

    # -- what GitLab learns from outside its API -------------------------------------------------

    def set_status(
        self,
        namespace: str,
        name: str,
        sha: str,
        name_of_check: str,
        state: str,
        *,
        author: str = "ci-bot",
        ref: str | None = None,
        target_url: str | None = None,
        description: str | None = None,
    ) -> int:
        """Post a commit status as `author` (created on first use), exactly as `POST /projects/:id/statuses/:sha`
        does (pipeline hooks included); returns the status id. Raises `ApiError` where the API answers one."""
        data = {"state": state, "name": name_of_check, "ref": ref, "target_url": target_url, "description": description}
        with self.store.lock:
            project = self.store.project(f"{namespace}/{name}")
            user = self.store.user(author)
            return record_status(self.api.backend, self._urls(), project, sha, data, user).id

    def notify_push(
        self, namespace: str, name: str, branch: str, before: str, after: str, *, pusher: str | None = None
    ) -> None:
        """Tell the stand-in a client pushed `branch` from `before` to `after` (all zeros: created/deleted):
        a "Push Hook", and an "update" hook (with `oldrev`) for each open merge request from that branch."""
        with self.store.lock:
            project = self.store.project(f"{namespace}/{name}")
            user = self.store.user(pusher) if pusher else None
            events.push(self.api.backend, self._urls(), project, branch, before, after, user)
            self._push_updates(project, branch, before, user)

    def _push_updates(self, project: Project, branch: str, before: str, user: User | None) -> None:
        for mr in sorted(project.merge_requests.values(), key=lambda mr: mr.iid):
            if mr.state == "opened" and mr.source_branch == branch:
                refresh(project, mr)
                actor = user or mr.author
                events.merge_request(self.api.backend, self._urls(), actor, project, mr, "update", oldrev=before)

    def _urls(self) -> Urls:
        return Urls.for_host(f"{self.host}:{self.port}")

    # -- rate limits and webhooks ---------------------------------------------------------------

    def rate_limit_once(self, method: str, path: str, *, retry_after: int = 1) -> Fault:
        """One 429 with `Retry-After`, `RateLimit-Reset` and `RateLimit-Remaining: 0` (python-gitlab,
        with `obey_rate_limit` on, its default, sleeps and retries)."""
        return self.faults.add(faults.rate_limit(method, path, retry_after))

    def add_webhook(self, url: str, secret: str, events: Iterable[str] = DEFAULT_EVENTS) -> int:
        """Subscribe `url` to `events` (object kinds: merge_request, push, pipeline, note; "*" for all),
        with `secret` sent as `X-Gitlab-Token`; returns the hook id."""
        return self.hooks.subscribe(url, secret, events).id

    def redeliver(self, event_uuid: str) -> None:
        """Re-send a delivery: same body, same `X-Gitlab-Event-UUID` (queued like any other)."""
        super().redeliver(event_uuid)
