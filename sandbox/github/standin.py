"""`GitHubStandIn`: the object tests, the demo and the benchmarks hold.

It owns the server thread, the repositories under `root`, the faults and the webhook
dispatcher, and offers direct reads (`pulls`, `requests`, `deliveries`) for assertions.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sandbox.github import faults, git
from sandbox.github.api import Api, Served
from sandbox.github.faults import Fault, FaultBook
from sandbox.github.server import StandInServer
from sandbox.github.store import Backend, PullRequest, Store
from sandbox.github.webhooks import DEFAULT_EVENTS, Delivery, Dispatcher
from sandbox.httpserver import Serving


class GitHubStandIn(Serving):
    """A GitHub REST API on 127.0.0.1 backed by bare git repositories under `root/<owner>/<name>.git`.

    `url` is the server root (where `/_sandbox/…` lives), `api_url` the REST base URL.
    """

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
        self.faults = FaultBook()
        self.api = Api(Backend(self.store, self.hooks), self.faults, dict(tokens or {}), self.prefix)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> GitHubStandIn:
        """Serve in a background thread (on a free port unless one was given); idempotent."""
        if not self.serving:
            self.root.mkdir(parents=True, exist_ok=True)
            self._serve(StandInServer((self.host, self.port), self.api), "github-standin")
            self.hooks.start()
        return self

    def stop(self) -> None:
        """Stop serving and delivering; idempotent."""
        self._unserve()
        self.hooks.stop()

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

    # -- faults and the request log ------------------------------------------------------------

    def inject(
        self,
        method: str,
        path: str,
        status: int,
        times: int | None = 1,
        when: str = "before",
        headers: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> Fault:
        """Answer `status` to `times` requests matching `method` and the regex `path` (searched in the
        path without prefix or query); `when="after"` does the work first. Returns the live Fault."""
        return self.faults.add(Fault(method, path, status, times, when, dict(headers or {}), body))

    def fail_once(self, method: str, path: str, status: int = 502, *, when: str = "after") -> Fault:
        """One failure, after the work by default (the case that tests idempotency)."""
        return self.inject(method, path, status, times=1, when=when)

    def rate_limit_once(self, method: str, path: str, *, retry_after: int = 1) -> Fault:
        """One primary rate-limit 403 with `Retry-After` (PyGithub's GithubRetry sleeps and retries)."""
        return self.faults.add(faults.rate_limit(method, path, retry_after))

    def secondary_rate_limit_once(self, method: str, path: str, *, retry_after: int | None = None) -> Fault:
        """One secondary rate-limit 403 (GithubRetry waits `secondary_rate_wait` unless `retry_after`)."""
        return self.faults.add(faults.secondary_rate_limit(method, path, retry_after))

    def clear_faults(self) -> None:
        self.faults.clear()

    @property
    def requests(self) -> list[Served]:
        """Every API request answered, as (method, path, status); path has no prefix and no query."""
        return self.api.served()

    def clear_requests(self) -> None:
        self.api.clear_served()

    # -- webhooks ----------------------------------------------------------------------------

    def add_webhook(self, url: str, secret: str, events: Iterable[str] = DEFAULT_EVENTS) -> int:
        """Subscribe `url` to `events` ("*" for all), signed with `secret`; returns the hook id."""
        return self.hooks.subscribe(url, secret, events).id

    @property
    def deliveries(self) -> list[Delivery]:
        """Every delivery attempted so far (a delivery still queued is not listed yet)."""
        return self.hooks.deliveries()

    def wait_for_deliveries(self, count: int | None = None, timeout: float = 5.0) -> list[Delivery]:
        """Wait until every queued delivery was attempted (and at least `count` exist); returns them all."""
        return self.hooks.wait(count, timeout)

    def redeliver(self, delivery_id: str) -> None:
        """Re-send a delivery: same body, same `X-GitHub-Delivery` id (queued like any other)."""
        self.hooks.redeliver(delivery_id)
