"""The three Git hosts behind one test driver, so the hosted-promotion tests run against each.

Each driver owns a stand-in (sandbox/github, sandbox/gitlab, sandbox/gitea) serving acme/platform
over real HTTP, and acts on it the way people and CI do — through the host's own client library
(PyGithub, python-gitlab) or plain HTTP (Gitea) with their own tokens: approving, merging, closing,
failing a check. What the tests read back is normalised into `Pull`.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import gitlab
import requests
from github import Auth, Github

from promotions.inbound.signatures import github_signature
from sandbox.gitea import GiteaStandIn
from sandbox.github import GitHubStandIn
from sandbox.gitlab import GitLabStandIn

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
    def fail_check(self, sha: str, name: str, description: str) -> None: ...
    def inject_create(self, status: int, *, when: str = "before", times: int | None = 1, body: Any = None) -> None: ...
    def rate_limit_create(self, retry_after: int) -> None: ...
    def creates(self) -> list[tuple[str, str, int]]: ...
    def add_webhook(self, url: str, secret: str) -> None: ...
    def wait_for_deliveries(self, count: int) -> list[Any]: ...
    def home(self) -> str: ...
    def refusal_body(self, message: str) -> Any: ...
    def stop(self) -> None: ...


class GitHubHost:
    name, token_env, secret_env, webhook_path = (
        "github",
        "PORTAL_GITHUB_TOKEN",
        "GITHUB_WEBHOOK_SECRET",
        "/webhooks/github/",
    )

    def __init__(self, root: Path) -> None:
        self.standin = GitHubStandIn(root=root, tokens=TOKENS).start()
        self._path = self.standin.create_repository("acme", "platform")

    def stop(self) -> None:
        self.standin.stop()

    def catalogue_block(self) -> str:
        api = self.standin.api_url
        return f'provider: github, github: {{repo: acme/platform, api_url: "{api}", token_env: {self.token_env}}}'

    def repository(self) -> Path:
        return self._path

    def clone_url(self) -> str:
        return self.standin.clone_url("acme", "platform")

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

    def fail_check(self, sha: str, name: str, description: str) -> None:
        client = Github(base_url=self.standin.api_url, auth=Auth.Token("bob-token"), retry=None)
        client.get_repo("acme/platform").get_commit(sha).create_status("failure", description=description, context=name)

    def inject_create(self, status: int, *, when: str = "before", times: int | None = 1, body: Any = None) -> None:
        self.standin.inject("POST", r"/repos/acme/platform/pulls$", status, times=times, when=when, body=body)

    def rate_limit_create(self, retry_after: int) -> None:
        self.standin.rate_limit_once("POST", r"/repos/acme/platform/pulls$", retry_after=retry_after)

    def creates(self) -> list[tuple[str, str, int]]:
        return [tuple(r) for r in self.standin.requests if r.method == "POST" and r.path.endswith("/pulls")]

    def add_webhook(self, url: str, secret: str) -> None:
        self.standin.add_webhook(url, secret, events=("pull_request", "pull_request_review", "push", "status"))

    def wait_for_deliveries(self, count: int) -> list[Any]:
        return self.standin.wait_for_deliveries(count)

    def home(self) -> str:
        return self.standin.api_url.rstrip("/").removesuffix("/api/v3") + "/acme/platform"

    def redeliver(self, delivery_id: str) -> None:
        self.standin.redeliver(delivery_id)

    def webhook_headers(self, body: bytes, *, delivery: str, secret: str, event: str = "push") -> dict[str, str]:
        """The headers of a delivery of `event` ("push" or "check")."""
        return {
            "X-GitHub-Event": {"push": "push", "check": "status"}[event],
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": github_signature(secret, body),
        }

    def push_payload(self, ref: str, repository: str = "acme/platform") -> dict[str, Any]:
        return {"ref": ref, "repository": {"full_name": repository}}

    def failing_check_payload(self, sha: str, name: str, description: str) -> dict[str, Any]:
        return {"sha": sha, "state": "failure", "context": name, "description": description,
                "repository": {"full_name": "acme/platform"}}  # fmt: skip

    def check_name(self, name: str) -> str:
        return name

    def refusal_body(self, message: str) -> Any:
        return {"message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "custom",
                                                             "message": message}]}  # fmt: skip


def _http(method: str, url: str, token: str, **kwargs: Any) -> Any:
    response = requests.request(method, url, headers={"Authorization": f"token {token}"}, timeout=10, **kwargs)
    response.raise_for_status()
    return response.json() if response.content else None


class GitLabHost:
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

    def stop(self) -> None:
        self.standin.stop()

    def catalogue_block(self) -> str:
        api = f"{self.standin.url}/api/v4"  # the server's address is accepted too
        return f'provider: gitlab, gitlab: {{project: acme/platform, api_url: "{api}", token_env: {self.token_env}}}'

    def repository(self) -> Path:
        return self._path

    def clone_url(self) -> str:
        return self.standin.clone_url("acme", "platform")

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

    def inject_create(self, status: int, *, when: str = "before", times: int | None = 1, body: Any = None) -> None:
        self.standin.inject("POST", self.CREATE, status, times=times, when=when, body=body)

    def rate_limit_create(self, retry_after: int) -> None:
        self.standin.rate_limit_once("POST", self.CREATE, retry_after=retry_after)

    def creates(self) -> list[tuple[str, str, int]]:
        return [tuple(r) for r in self.standin.requests if r.method == "POST" and r.path.endswith("/merge_requests")]

    def add_webhook(self, url: str, secret: str) -> None:
        self.standin.add_webhook(url, secret)

    def wait_for_deliveries(self, count: int) -> list[Any]:
        return self.standin.wait_for_deliveries(count)

    def redeliver(self, delivery_id: str) -> None:
        self.standin.redeliver(delivery_id)

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

    def home(self) -> str:
        return f"{self.standin.url}/acme/platform"


class GiteaHost:
    name, token_env, secret_env, webhook_path = (
        "gitea",
        "PORTAL_GITEA_TOKEN",
        "GITEA_WEBHOOK_SECRET",
        "/webhooks/gitea/",
    )
    CREATE = r"/repos/acme/platform/pulls$"

    def __init__(self, root: Path, flavour: str = "forgejo") -> None:
        self.standin = GiteaStandIn(root=root, tokens=TOKENS, flavour=flavour).start()
        self._path = self.standin.create_repository("acme", "platform")

    def stop(self) -> None:
        self.standin.stop()

    def catalogue_block(self) -> str:
        api = self.standin.url  # the server's address; …/api/v1 is accepted too
        return f'provider: gitea, gitea: {{repo: acme/platform, api_url: "{api}", token_env: {self.token_env}}}'

    def repository(self) -> Path:
        return self._path

    def clone_url(self) -> str:
        return self.standin.clone_url("acme", "platform")

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

    def inject_create(self, status: int, *, when: str = "before", times: int | None = 1, body: Any = None) -> None:
        self.standin.inject("POST", self.CREATE, status, times=times, when=when, body=body)

    def rate_limit_create(self, retry_after: int) -> None:
        self.standin.rate_limit_once("POST", self.CREATE, retry_after=retry_after)

    def creates(self) -> list[tuple[str, str, int]]:
        return [tuple(r) for r in self.standin.requests if r.method == "POST" and r.path.endswith("/pulls")]

    def add_webhook(self, url: str, secret: str) -> None:
        self.standin.add_webhook(url, secret)

    def wait_for_deliveries(self, count: int) -> list[Any]:
        return self.standin.wait_for_deliveries(count)

    def redeliver(self, delivery_id: str) -> None:
        self.standin.redeliver(delivery_id)

    def webhook_headers(self, body: bytes, *, delivery: str, secret: str, event: str = "push") -> dict[str, str]:
        """The headers of a delivery of `event` ("push" or "check"), as Forgejo sends them (its own family)."""
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        kind = {"push": "push", "check": "status"}[event]
        return {"X-Forgejo-Event": kind, "X-Forgejo-Delivery": delivery, "X-Forgejo-Signature": signature}

    def push_payload(self, ref: str, repository: str = "acme/platform") -> dict[str, Any]:
        return {"ref": ref, "repository": {"full_name": repository}}

    def failing_check_payload(self, sha: str, name: str, description: str) -> dict[str, Any]:
        return {"sha": sha, "state": "failure", "context": name, "description": description,
                "repository": {"full_name": "acme/platform"}}  # fmt: skip

    def check_name(self, name: str) -> str:
        return name

    def refusal_body(self, message: str) -> Any:
        return {"message": message, "url": f"{self.standin.url}/api/swagger"}

    def home(self) -> str:
        return f"{self.standin.url}/acme/platform"


HOSTS: dict[str, Any] = {"github": GitHubHost, "gitlab": GitLabHost, "gitea": GiteaHost}
