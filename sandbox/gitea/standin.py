"""`GiteaStandIn`: the object tests hold.

It owns the server thread, the repositories under `root`, the faults and the webhook
dispatcher, and offers direct reads (`pulls`, `requests`, `deliveries`) for assertions,
plus the two things a real Gitea learns from elsewhere: commit statuses posted by CI
(`set_status`) and pushes made with plain git (`notify_push`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sandbox.faultbook import FaultBook
from sandbox.gitea import events, faults
from sandbox.gitea.api import Api
from sandbox.gitea.faults import Fault
from sandbox.gitea.pr_state import refresh
from sandbox.gitea.repos import add_status
from sandbox.gitea.routing import PREFIX, Urls
from sandbox.gitea.server import StandInServer
from sandbox.gitea.store import FLAVOURS, Backend, Protection, PullRequest, Repository, Store
from sandbox.gitea.webhooks import DEFAULT_EVENTS, GiteaDispatcher
from sandbox.github import git
from sandbox.hosting.standin import HostStandIn


@dataclass(frozen=True)
class PullSnapshot:
    """A pull request as `GiteaStandIn.pulls` shows it; `head_sha` is read live while it is open."""

    number: int
    head_ref: str
    base_ref: str
    title: str
    body: str
    labels: list[str]
    state: str
    merged: bool
    merge_commit_sha: str | None
    head_sha: str
    comments: list[tuple[str, str]]
    reviews: list[tuple[int, str, str, str, str]]


class GiteaStandIn(HostStandIn[Fault]):
    """A Gitea (or Forgejo) REST API v1 on 127.0.0.1 backed by bare git repositories under `root/<owner>/<name>.git`.

    `url` is the server root, `api_url` the REST base (`url + "/api/v1"`). `tokens` maps
    token → username; tokens in `read_only_tokens` carry read scopes only. Lifecycle, faults,
    the request log and deliveries are `HostStandIn`'s; a delivery's `event` is the precise
    event type (`X-Gitea-Event-Type`), e.g. "pull_request_review_approved".
    """

    server = StandInServer
    api: Api
    thread_name = "gitea-standin"

    def __init__(
        self,
        root: Path,
        tokens: Mapping[str, str] | None = None,
        *,
        flavour: str = "gitea",
        read_only_tokens: Iterable[str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if flavour not in FLAVOURS:
            raise ValueError(f"flavour must be one of {FLAVOURS}, not {flavour!r}")
        self.root = Path(root)
        self.host, self.port = host, port
        self.store = Store()
        self.hooks = GiteaDispatcher(flavour)
        self.faults: FaultBook[Fault] = FaultBook()
        self.backend = Backend(self.store, self.hooks, flavour)
        self.api = Api(self.backend, self.faults, {}, set(read_only_tokens))
        for token, username in (tokens or {}).items():
            self.add_token(token, username, read_only=token in self.api.read_only)

    # -- the API and tokens ----------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """The REST base URL: `url + "/api/v1"`."""
        return f"{self.url}{PREFIX}"

    def add_token(self, token: str, username: str, *, read_only: bool = False) -> None:
        """Accept `token` as `username` from now on (the user gets the next id if new)."""
        with self.store.lock:
            self.store.user_id(username)
            self.api.tokens[token] = username
            if read_only:
                self.api.read_only.add(token)

    # -- repositories --------------------------------------------------------------------------

    def create_repository(
        self,
        owner: str,
        name: str,
        default_branch: str = "main",
        *,
        required_approvals: int = 0,
        block_on_failed_status: bool = False,
        ignore_stale_approvals: bool = False,
    ) -> Path:
        """Create an empty bare repository at `root/owner/name.git` and serve it; returns its path.

        The protection flags guard the default branch (see `store.Protection`).
        """
        path = self.root / owner / f"{name}.git"
        git.init_bare(path, default_branch)
        protection = Protection(required_approvals, block_on_failed_status, ignore_stale_approvals)
        with self.store.lock:
            self.store.add_repo(owner, name, path, default_branch, protection)
        return path

    def add_repository(
        self,
        owner: str,
        name: str,
        path: Path,
        *,
        default_branch: str | None = None,
        required_approvals: int = 0,
        block_on_failed_status: bool = False,
        ignore_stale_approvals: bool = False,
    ) -> Path:
        """Serve an existing bare repository (not copied); the default branch is its HEAD unless given."""
        path = Path(path)
        protection = Protection(required_approvals, block_on_failed_status, ignore_stale_approvals)
        with self.store.lock:
            self.store.add_repo(owner, name, path, default_branch or git.head_branch(path), protection)
        return path

    def clone_url(self, owner: str, name: str) -> str:
        """The file:// URL clients fetch from and push to with plain git."""
        with self.store.lock:
            return self.store.repo(owner, name).clone_url

    def pulls(self, owner: str, name: str) -> list[PullSnapshot]:
        """Snapshots of the stored pull requests, by number (for assertions)."""
        with self.store.lock:
            repo = self.store.repo(owner, name)
            return [_snapshot(repo, refresh(repo, pr)) for _, pr in sorted(repo.pulls.items())]

    def set_status(
        self, owner: str, name: str, sha: str, context: str, state: str, *, description: str = "", target_url: str = ""
    ) -> None:
        """Post a commit status as the repository owner (what CI does through the API), `status` webhook included."""
        data = {"state": state, "context": context, "description": description, "target_url": target_url}
        with self.store.lock:
            add_status(self.backend, self._urls, self.store.repo(owner, name), sha, data, owner)

    def notify_push(
        self, owner: str, name: str, branch: str, before: str, after: str, *, pusher: str | None = None
    ) -> None:
        """Announce a push made with plain git: a `push` webhook, and `synchronized` for open PRs from `branch`."""
        with self.store.lock:
            repo = self.store.repo(owner, name)
            events.push(self.backend, self._urls, pusher or owner, repo, branch, before, after)
            for pr in (pr for pr in repo.pulls.values() if pr.state == "open" and pr.head_ref == branch):
                refresh(repo, pr)
                events.pull_request(
                    self.backend, self._urls, pusher or owner, repo, pr, "synchronized", event_type="pull_request_sync"
                )

    @property
    def _urls(self) -> Urls:
        return Urls.for_host(f"{self.host}:{self.port}")

    # -- rate limits and webhooks ---------------------------------------------------------------

    def rate_limit_once(self, method: str, path: str, *, retry_after: int = 1) -> Fault:
        """One 429 Too Many Requests with `Retry-After`, before the work."""
        return self.faults.add(faults.rate_limit(method, path, retry_after))

    def add_webhook(self, url: str, secret: str, events: Iterable[str] = DEFAULT_EVENTS) -> int:
        """Subscribe `url` to event types or events ("*" for all), signed with `secret`; returns the hook id."""
        return self.hooks.subscribe(url, secret, events).id


def _snapshot(repo: Repository, pr: PullRequest) -> PullSnapshot:
    return PullSnapshot(
        number=pr.number,
        head_ref=pr.head_ref,
        base_ref=pr.base_ref,
        title=pr.title,
        body=pr.body,
        labels=[repo.labels[label_id].name for label_id in pr.labels],
        state=pr.state,
        merged=pr.merged,
        merge_commit_sha=pr.merge_commit_sha,
        head_sha=pr.head_sha,
        comments=[(comment.user, comment.body) for comment in pr.comments],
        reviews=[(r.id, r.user, r.state, r.body, r.commit_id) for r in pr.reviews],
    )
