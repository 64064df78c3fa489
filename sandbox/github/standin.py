"""`GitHubStandIn`: the object tests, the demo and the benchmarks hold.

It owns the server thread, the repositories under `root`, the faults and the webhook
dispatcher, and offers direct reads (`pulls`, `requests`, `deliveries`) for assertions.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path

from sandbox.faultbook import FaultBook
from sandbox.github import faults, git
from sandbox.github.api import Api
from sandbox.github.faults import Fault
from sandbox.github.server import StandInServer
from sandbox.github.store import Backend, PullRequest, Store
from sandbox.github.webhooks import DEFAULT_EVENTS, Dispatcher
from sandbox.hosting.standin import HostStandIn


class GitHubStandIn(HostStandIn[Fault]):
    """A GitHub REST API on 127.0.0.1 backed by bare git repositories under `root/<owner>/<name>.git`.

    `url` is the server root (where `/_sandbox/…` lives), `api_url` the REST base URL.
    Lifecycle, faults, the request log and deliveries are `HostStandIn`'s.
    """

    server = StandInServer
    api: Api
    thread_name = "github-standin"

    def __init__(
        self,
        root: Path,
        tokens: Mapping[str, str] | None = None,
        prefix: str = "/api/v3",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.root = Path(root)
        self.host, self.port = host, port
        self.prefix = prefix.rstrip("/")
        self.store = Store()
        self.hooks = Dispatcher()
        self.faults: FaultBook[Fault] = FaultBook()
        self.api = Api(Backend(self.store, self.hooks), self.faults, dict(tokens or {}), self.prefix)

    # -- the API and tokens ----------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """The REST base URL to hand PyGithub as `base_url`."""
        return f"{self.url}{self.prefix}"

    def add_token(self, token: str, login: str) -> None:
        """Accept `token` as user `login` from now on."""
        self.api.tokens[token] = login

    # -- repositories --------------------------------------------------------------------------

    def create_repository(self, owner: str, name: str, *, default_branch: str = "main", private: bool = True) -> Path:
        """Create an empty bare repository at `root/owner/name.git` and serve it; returns its path."""
        path = self.root / owner / f"{name}.git"
        git.init_bare(path, default_branch)
        with self.store.lock:
            self.store.add_repo(owner, name, path, default_branch).private = private
        return path

    def add_repository(self, owner: str, name: str, path: Path, *, default_branch: str | None = None) -> Path:
        """Serve an existing bare repository (not copied); the default branch is its HEAD unless given."""
        path = Path(path)
        with self.store.lock:
            self.store.add_repo(owner, name, path, default_branch or git.head_branch(path))
        return path

    def adopt_existing(self) -> list[str]:
        """Serve every `root/<owner>/<name>.git` not yet served; returns their full names."""
        adopted = []
        with self.store.lock:
            for path in sorted(self.root.glob("*/*.git")):
                owner, name = path.parent.name, path.name.removesuffix(".git")
                if f"{owner}/{name}".lower() not in self.store.repos:
                    self.add_repository(owner, name, path)
                    adopted.append(f"{owner}/{name}")
        return adopted

    def clone_url(self, owner: str, name: str) -> str:
        """The file:// URL clients fetch from and push to with plain git."""
        with self.store.lock:
            return self.store.repo(owner, name).clone_url

    def pulls(self, owner: str, name: str) -> list[PullRequest]:
        """Copies of the stored pull requests, by number (for assertions)."""
        with self.store.lock:
            return [copy.deepcopy(pr) for _, pr in sorted(self.store.repo(owner, name).pulls.items())]

    # -- rate limits and webhooks ---------------------------------------------------------------

    def rate_limit_once(self, method: str, path: str, *, retry_after: int = 1) -> Fault:
        """One primary rate-limit 403 with `Retry-After` (PyGithub's GithubRetry sleeps and retries)."""
        return self.faults.add(faults.rate_limit(method, path, retry_after))

    def secondary_rate_limit_once(self, method: str, path: str, *, retry_after: int | None = None) -> Fault:
        """One secondary rate-limit 403 (GithubRetry waits `secondary_rate_wait` unless `retry_after`)."""
        return self.faults.add(faults.secondary_rate_limit(method, path, retry_after))

    def add_webhook(self, url: str, secret: str, events: Iterable[str] = DEFAULT_EVENTS) -> int:
        """Subscribe `url` to `events` ("*" for all), signed with `secret`; returns the hook id."""
        return self.hooks.subscribe(url, secret, events).id
