"""GitHub and GitHub Enterprise through PyGithub: the only module that imports it.

Retries are explicit: idempotent reads are retried by PyGithub (5xx), writes are not
(a POST that failed after GitHub acted must not run twice); a failed write surfaces
as TransientError and the promotion task retries, finding its pull request by branch
instead of creating a second one. Rate limits wait for `Retry-After` (bounded).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from github import Auth, Github, GithubException, GithubRetry, RateLimitExceededException
from github.PullRequest import PullRequest as GhPullRequest
from github.Repository import Repository

from promotions.errors import PermanentError, TransientError
from promotions.gitops.repository import Person
from promotions.hosting.base import PullRequest, Review

T = TypeVar("T")
READS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_RATE_LIMIT_WAIT = 60.0
TIMEOUT = 15


class GitHubProvider:
    name = "github"

    def __init__(self, *, repo: str, api_url: str, token: str) -> None:
        self.full_name = repo
        self.owner = repo.split("/", 1)[0]
        retry = GithubRetry(total=3, allowed_methods=READS, backoff_factor=0.2, max_rate_limit_wait=MAX_RATE_LIMIT_WAIT)
        self._client = Github(
            base_url=api_url.rstrip("/"),
            auth=Auth.Token(token),
            retry=retry,
            timeout=TIMEOUT,
            seconds_between_requests=None,
            seconds_between_writes=None,
        )
        self._repo: Repository | None = None

    def open(
        self, *, number_hint: int, branch: str, base: str, title: str, body: str, labels: list[str]
    ) -> PullRequest:
        pr = self._find(branch, base)
        if pr is None:
            try:
                pr = self._call(lambda: self._repository().create_pull(base=base, head=branch, title=title, body=body))
            except PermanentError as exc:
                if "already exists" not in str(exc):  # a concurrent or earlier attempt made it
                    raise
                pr = self._find(branch, base)
                if pr is None:
                    raise
        if labels and not {label.name for label in pr.labels} >= set(labels):
            self._call(lambda: pr.add_to_labels(*labels))
        return _summary(pr)

    def close(self, *, number: int, comment: str) -> None:
        pr = self._call(lambda: self._repository().get_pull(number))
        if pr.state == "open":
            self._call(lambda: pr.create_issue_comment(comment))
            self._call(lambda: pr.edit(state="closed"))

    def merge(self, *, number: int, branch: str, base: str, title: str, committer: Person) -> str:
        pr = self._call(lambda: self._repository().get_pull(number))
        if pr.merged:
            return str(pr.merge_commit_sha)
        status = self._call(
            lambda: pr.merge(merge_method="merge", sha=pr.head.sha, commit_title=f"{title} (#{number})")
        )
        return str(status.sha)

    def reviews(self, *, number: int) -> list[Review]:
        """Every review on the pull request, oldest first."""
        pr = self._call(lambda: self._repository().get_pull(number))
        found = self._call(lambda: list(pr.get_reviews()))
        return [Review(r.id, r.user.login if r.user else "", r.state, r.body or "", r.commit_id or "") for r in found]

    def head(self, branch: str) -> str | None:
        found = self._call(lambda: self._repository().get_branch(branch))
        return str(found.commit.sha) if found else None

    def get(self, *, number: int) -> PullRequest:
        return _summary(self._call(lambda: self._repository().get_pull(number)))

    def _find(self, branch: str, base: str) -> GhPullRequest | None:
        pulls = self._call(
            lambda: list(self._repository().get_pulls(state="open", head=f"{self.owner}:{branch}", base=base))
        )
        return pulls[0] if pulls else None

    def _repository(self) -> Repository:
        if self._repo is None:
            self._repo = self._client.get_repo(self.full_name)
        return self._repo

    def _call(self, action: Callable[[], T]) -> T:
        for attempt in range(3):
            try:
                return action()
            except RateLimitExceededException as exc:
                wait = _retry_after(exc)
                if attempt == 2 or wait > MAX_RATE_LIMIT_WAIT:
                    raise TransientError(f"GitHub rate limit for {self.full_name}; retry in {wait:.0f}s") from None
                time.sleep(wait)
            except GithubException as exc:
                raise _error(exc, self.full_name) from None
            except OSError as exc:  # connection refused, timeouts, TLS
                raise TransientError(f"GitHub unreachable for {self.full_name}: {exc}") from None
        raise AssertionError("unreachable")


def _summary(pr: GhPullRequest) -> PullRequest:
    state = "merged" if pr.merged else pr.state
    return PullRequest(pr.number, pr.html_url, state, pr.head.sha, pr.merge_commit_sha if pr.merged else None)


def _retry_after(exc: GithubException) -> float:
    headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
    try:
        return max(0.0, float(headers.get("retry-after", "1")))
    except ValueError:
        return 1.0


def _error(exc: GithubException, repo: str) -> Exception:
    data = exc.data if isinstance(exc.data, dict) else {}
    details = [e.get("message", "") for e in data.get("errors", []) if isinstance(e, dict)]
    message = "; ".join(filter(None, [str(data.get("message", "")), *details])) or str(exc)
    text = f"GitHub {repo}: {exc.status} {message}"
    return TransientError(text) if exc.status >= 500 or exc.status == 429 else PermanentError(text)
