"""The three Git hosts behind one test driver, so the hosted-promotion tests run against each.

Each driver owns a stand-in (sandbox/github, sandbox/gitlab, sandbox/gitea) serving acme/platform
over real HTTP, and acts on it the way people and CI do — through the host's own client library
(PyGithub, python-gitlab) or plain HTTP (Gitea) with their own tokens: approving, merging, closing,
failing a check. What the tests read back is normalised into `Pull`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import gitlab
import requests
from github import Auth, Github

from promotions.catalogue.loader import catalog_load
from promotions.inbound.signatures import github_signature
from promotions.matrix.refresh import matrix_refresh
from promotions.models import Promotion
from promotions.workflow.execute import promotion_execute
from promotions.workflow.request import promotion_request
from sandbox.gitea import GiteaStandIn
from sandbox.github import GitHubStandIn
from sandbox.gitlab import GitLabStandIn
from sandbox.gitrepo import RepoBuilder
from tests.builders import BOB, PIPELINE, at, kustomization

# Who holds which token on every host; the portal's bot opens the pull requests.
TOKENS = {"portal-token": "portal-bot", "bob-token": "bob", "alice-token": "alice-gh"}
USER_TOKENS = {"bob": "bob-token", "alice": "alice-token"}


@dataclass(frozen=True)
class Pull:
    """A pull (merge) request as the host holds it."""

    number: int
    head_ref: str
    base_ref: str
    title: str
    body: str
    labels: frozenset[str]
    state: str  # open | closed | merged
    comments: tuple[str, ...]
    merge_commit: str | None


def hosted_pipeline(host: Host, write_catalog: Any, monkeypatch: Any) -> tuple[Path, RepoBuilder]:
    """acme/platform on `host`: web and api at 1.1.0/2.1.0 in dev and staging, 1.0.0/2.0.0 in
    production (a pull-request stage), read into the matrix; the catalogue's path and the repository."""
    repo = RepoBuilder(host.repository())
    files = {}
    for app, new, old in (("web", "1.1.0", "1.0.0"), ("api", "2.1.0", "2.0.0")):
        for stage, version in (("dev", new), ("staging", new), ("production", old)):
            files[f"{stage}/{app}/kustomization.yaml"] = kustomization(f"ghcr.io/acme/{app}", version)
    repo.commit(files, "Bootstrap", author=BOB, date=at(0))
    monkeypatch.setenv(host.token_env, "portal-token")
    path = write_catalog(PIPELINE.replace("branch: main}", f"branch: main, {host.catalogue_block()}}}"),
                         url=host.clone_url())  # fmt: skip
    matrix_refresh(catalog=catalog_load(path))
    return path, repo


def promote(path: Path, app: str = "web", **kwargs: Any) -> Promotion:
    """A promotion of `app` from staging into production (a pull request)."""
    return promotion_request(
        catalog=catalog_load(path), applications=[app], from_stage="staging", to_stage="production", **kwargs
    )


def run(promotion: Promotion) -> Promotion:
    promotion_execute(promotion_id=promotion.pk)
    promotion.refresh_from_db()
    return promotion


class Host(Protocol):
    name: str  # the catalogue's provider
    token_env: str
    secret_env: str
    webhook_path: str

    def catalogue_block(self) -> str: ...
    def repository(self) -> Path: ...
    def clone_url(self) -> str: ...
    def pulls(self) -> list[Pull]: ...
    def approve(self, number: int, user: str) -> None: ...
    def merge(self, number: int, user: str = "bob") -> None: ...
    def close(self, number: int, user: str = "bob") -> None: ...
    def inject_create(self, status: int, *, when: str = "before", times: int | None = 1, body: Any = None) -> None: ...
    def rate_limit_create(self, retry_after: int) -> None: ...
    def creates(self) -> list[tuple[str, str, int]]: ...
    def add_webhook(self, url: str, secret: str) -> None: ...
    def wait_for_deliveries(self, count: int) -> list[Any]: ...
    def home(self) -> str: ...
    def refusal_body(self, message: str) -> Any: ...
    def stop(self) -> None: ...


class _Driver:
    """What every host's driver does the same way with its stand-in."""

    CREATE = r"/repos/acme/platform/pulls$"  # the API path that creates a pull request
    EVENTS: tuple[str, ...] | None = None  # webhook events to subscribe to (None: the stand-in's default)
    standin: Any
    _path: Path

    def stop(self) -> None:
        self.standin.stop()

    def repository(self) -> Path:
        return self._path

    def clone_url(self) -> str:
        return str(self.standin.clone_url("acme", "platform"))

    def inject_create(self, status: int, *, when: str = "before", times: int | None = 1, body: Any = None) -> None:
        self.standin.inject("POST", self.CREATE, status, times=times, when=when, body=body)

    def rate_limit_create(self, retry_after: int) -> None:
        self.standin.rate_limit_once("POST", self.CREATE, retry_after=retry_after)

    def creates(self) -> list[tuple[str, str, int]]:
        return [tuple(r) for r in self.standin.requests if r.method == "POST" and re.search(self.CREATE, r.path)]

    def add_webhook(self, url: str, secret: str) -> None:
        if self.EVENTS is None:
            self.standin.add_webhook(url, secret)
        else:
            self.standin.add_webhook(url, secret, events=self.EVENTS)

    def wait_for_deliveries(self, count: int) -> list[Any]:
        return list(self.standin.wait_for_deliveries(count))

    def redeliver(self, delivery_id: str) -> None:
        self.standin.redeliver(delivery_id)

    def home(self) -> str:
        return f"{self.standin.url}/acme/platform"

    def push_payload(self, ref: str, repository: str = "acme/platform") -> dict[str, Any]:
        return {"ref": ref, "repository": {"full_name": repository}}

    def failing_check_payload(self, sha: str, name: str, description: str) -> dict[str, Any]:
        return {"sha": sha, "state": "failure", "context": name, "description": description,
                "repository": {"full_name": "acme/platform"}}  # fmt: skip

    def check_name(self, name: str) -> str:
        return name


class GitHubHost(_Driver):
    name, token_env, secret_env, webhook_path = (
        "github",
        "PORTAL_GITHUB_TOKEN",
        "GITHUB_WEBHOOK_SECRET",
        "/webhooks/github/",
    )
    EVENTS = ("pull_request", "pull_request_review", "push", "status")

    def __init__(self, root: Path, *, standin: GitHubStandIn | None = None) -> None:
        """A stand-in of its own under `root`, or the given one (already serving)."""
        self.standin = standin or GitHubStandIn(root=root, tokens=TOKENS).start()
        self._path = self.standin.create_repository("acme", "platform")

    def catalogue_block(self) -> str:
        api = self.standin.api_url
        return f'provider: github, github: {{repo: acme/platform, api_url: "{api}", token_env: {self.token_env}}}'

    def pulls(self) -> list[Pull]:
        return [Pull(p.number, p.head_ref, p.base_ref, p.title, p.body or "", frozenset(p.labels),
                     "merged" if p.merged else p.state, tuple(c.body for c in p.comments), p.merge_commit_sha)
                for p in self.standin.pulls("acme", "platform")]  # fmt: skip

    def _pull(self, number: int, user: str) -> Any:
        client = Github(base_url=self.standin.api_url, auth=Auth.Token(USER_TOKENS[user]), retry=None)
        return client.get_repo("acme/platform").get_pull(number)

    def approve(self, number: int, user: str) -> None:
        self._pull(number, user).create_review(event="APPROVE")

    def merge(self, number: int, user: str = "bob") -> None:
        self._pull(number, user).merge()

    def close(self, number: int, user: str = "bob") -> None:
        self._pull(number, user).edit(state="closed")

    def home(self) -> str:
        return self.standin.api_url.rstrip("/").removesuffix("/api/v3") + "/acme/platform"

    def webhook_headers(self, body: bytes, *, delivery: str, secret: str, event: str = "push") -> dict[str, str]:
        """The headers of a delivery of `event` ("push" or "check")."""
        return {
            "X-GitHub-Event": {"push": "push", "check": "status"}[event],
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": github_signature(secret, body),
        }

    def refusal_body(self, message: str) -> Any:
        return {"message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "custom",
                                                             "message": message}]}  # fmt: skip


def _http(method: str, url: str, token: str, **kwargs: Any) -> Any:
    response = requests.request(method, url, headers={"Authorization": f"token {token}"}, timeout=10, **kwargs)
    response.raise_for_status()
    return response.json() if response.content else None


class GitLabHost(_Driver):
    name, token_env, secret_env, webhook_path = (
        "gitlab",
        "PORTAL_GITLAB_TOKEN",
        "GITLAB_WEBHOOK_SECRET",
        "/webhooks/gitlab/",
    )
    CREATE = r"/projects/[^/]+/merge_requests$"

    def __init__(self, root: Path, *, pipeline_must_succeed: bool = False) -> None:
        self.standin = GitLabStandIn(root=root, tokens=TOKENS).start()
        self._path = self.standin.create_repository("acme", "platform", pipeline_must_succeed=pipeline_must_succeed)

    def catalogue_block(self) -> str:
        api = f"{self.standin.url}/api/v4"  # the server's address is accepted too
        return f'provider: gitlab, gitlab: {{project: acme/platform, api_url: "{api}", token_env: {self.token_env}}}'

    def pulls(self) -> list[Pull]:
        states = {"opened": "open", "merged": "merged", "closed": "closed"}
        return [Pull(m.iid, m.source_branch, m.target_branch, m.title, m.description or "", frozenset(m.labels),
                     states[m.state], tuple(body for _author, body in m.notes), m.merge_commit_sha)
                for m in self.standin.merge_requests("acme", "platform")]  # fmt: skip

    def _mr(self, number: int, user: str) -> Any:
        client = gitlab.Gitlab(self.standin.url, private_token=USER_TOKENS[user])
        return client.projects.get("acme/platform").mergerequests.get(number)

    def approve(self, number: int, user: str) -> None:
        self._mr(number, user).approve()

    def merge(self, number: int, user: str = "bob") -> None:
        self._mr(number, user).merge()

    def close(self, number: int, user: str = "bob") -> None:
        mr = self._mr(number, user)
        mr.state_event = "close"
        mr.save()

    def webhook_headers(self, body: bytes, *, delivery: str, secret: str, event: str = "push") -> dict[str, str]:
        """The headers of a delivery of `event` ("push" or "check"): GitLab sends its secret as is."""
        kind = {"push": "Push Hook", "check": "Pipeline Hook"}[event]
        return {"X-Gitlab-Event": kind, "X-Gitlab-Event-UUID": delivery, "X-Gitlab-Token": secret}

    def push_payload(self, ref: str, repository: str = "acme/platform") -> dict[str, Any]:
        return {"object_kind": "push", "ref": ref, "project": {"path_with_namespace": repository}}

    def failing_check_payload(self, sha: str, name: str, description: str) -> dict[str, Any]:
        return {"object_kind": "pipeline", "object_attributes": {"id": 31, "status": "failed", "sha": sha,
                                                                  "ref": "main", "name": name},
                "project": {"path_with_namespace": "acme/platform"}}  # fmt: skip

    def check_name(self, name: str) -> str:
        return "pipeline"

    def refusal_body(self, message: str) -> Any:
        return {"message": [message]}


class GiteaHost(_Driver):
    name, token_env, secret_env, webhook_path = (
        "gitea",
        "PORTAL_GITEA_TOKEN",
        "GITEA_WEBHOOK_SECRET",
        "/webhooks/gitea/",
    )

    def __init__(self, root: Path, flavour: str = "forgejo") -> None:
        self.standin = GiteaStandIn(root=root, tokens=TOKENS, flavour=flavour).start()
        self._path = self.standin.create_repository("acme", "platform")

    def catalogue_block(self) -> str:
        api = self.standin.url  # the server's address; …/api/v1 is accepted too
        return f'provider: gitea, gitea: {{repo: acme/platform, api_url: "{api}", token_env: {self.token_env}}}'

    def pulls(self) -> list[Pull]:
        return [Pull(p.number, p.head_ref, p.base_ref, p.title, p.body or "", frozenset(p.labels),
                     "merged" if p.merged else p.state, tuple(body for _author, body in p.comments), p.merge_commit_sha)
                for p in self.standin.pulls("acme", "platform")]  # fmt: skip

    def _api(self, method: str, path: str, user: str, **kwargs: Any) -> Any:
        return _http(method, f"{self.standin.api_url}/repos/acme/platform{path}", USER_TOKENS[user], **kwargs)

    def approve(self, number: int, user: str) -> None:
        self._api("POST", f"/pulls/{number}/reviews", user, json={"event": "APPROVED", "body": "looks good"})

    def merge(self, number: int, user: str = "bob") -> None:
        self._api("POST", f"/pulls/{number}/merge", user, json={"Do": "merge"})

    def close(self, number: int, user: str = "bob") -> None:
        self._api("PATCH", f"/pulls/{number}", user, json={"state": "closed"})

    def webhook_headers(self, body: bytes, *, delivery: str, secret: str, event: str = "push") -> dict[str, str]:
        """The headers of a delivery of `event` ("push" or "check"), as Forgejo sends them (its own family)."""
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        kind = {"push": "push", "check": "status"}[event]
        return {"X-Forgejo-Event": kind, "X-Forgejo-Delivery": delivery, "X-Forgejo-Signature": signature}

    def refusal_body(self, message: str) -> Any:
        return {"message": message, "url": f"{self.standin.url}/api/swagger"}


HOSTS: dict[str, Any] = {"github": GitHubHost, "gitlab": GitLabHost, "gitea": GiteaHost}
