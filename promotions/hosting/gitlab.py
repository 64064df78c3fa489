"""GitLab (gitlab.com and self-managed, API v4) through python-gitlab: the only module that imports it.

A promotion's pull request is a merge request found by its source branch, so a retried task
(a 502 after GitLab acted, a worker that died) finds the one it made instead of opening a second.
Writes are never retried blindly; rate limits (429) are waited out by python-gitlab itself, within
a bound this module sets (a `Retry-After` longer than that is a transient error for the task to
retry later, never a worker asleep for an hour). Approvals are mirrored as reviews (who approved,
on the merge request's current head); pipeline and commit statuses are the checks.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any, TypeVar

import gitlab
import requests
from gitlab.exceptions import GitlabError
from gitlab.v4.objects import Project, ProjectMergeRequest

from promotions.errors import PermanentError, TransientError
from promotions.gitops.repository import Person
from promotions.hosting.base import PullRequest, Review

T = TypeVar("T")
MAX_RATE_LIMIT_WAIT = 60.0
TIMEOUT = 15
# GitLab's `detailed_merge_status` values, in words, for a merge it refuses.
WHY_NOT = {
    "ci_must_pass": "the pipeline must succeed first",
    "ci_still_running": "the pipeline is still running",
    "conflict": "it has merge conflicts",
    "need_rebase": "it must be rebased",
    "not_approved": "it lacks GitLab's required approvals",
    "draft_status": "it is a draft",
    "discussions_not_resolved": "it has unresolved discussions",
    "blocked_status": "another merge request blocks it",
    "not_open": "it is not open",
}


class RateLimited(Exception):
    def __init__(self, wait: float) -> None:
        self.wait = wait
        super().__init__(f"rate limited for {wait:.0f}s")


class GitLabProvider:
    name = "gitlab"

    def __init__(self, *, project: str, api_url: str, token: str) -> None:
        self.project_path = project
        session = requests.Session()
        session.hooks["response"].append(_bounded_rate_limit)
        self._client = gitlab.Gitlab(api_url.rstrip("/"), private_token=token, timeout=TIMEOUT, session=session,
                                     user_agent="gitops-portal")  # fmt: skip
        self._project: Project | None = None

    def open(
        self, *, number_hint: int, branch: str, base: str, title: str, body: str, labels: list[str]
    ) -> PullRequest:
        mr = self._find(branch, base)
        if mr is None:
            data = {"source_branch": branch, "target_branch": base, "title": title, "description": body,
                    "labels": ",".join(labels), "remove_source_branch": False}  # fmt: skip
            try:
                mr = self._call(lambda: self._projects().mergerequests.create(data))
            except PermanentError as exc:
                if "already exists" not in str(exc):  # a concurrent or earlier attempt made it
                    raise
                mr = self._find(branch, base)
                if mr is None:
                    raise
        if labels and not set(mr.labels) >= set(labels):
            mr.labels = sorted({*mr.labels, *labels})
            self._call(mr.save)
        return _summary(mr)

    def close(self, *, number: int, comment: str) -> None:
        mr = self._get(number)
        if mr.state == "opened":
            self._call(lambda: mr.notes.create({"body": comment}))
            mr.state_event = "close"
            self._call(mr.save)

    def merge(self, *, number: int, branch: str, base: str, title: str, committer: Person) -> str:
        mr = self._get(number)
        if mr.state == "merged":
            return str(mr.merge_commit_sha)
        try:
            self._call(lambda: mr.merge(merge_commit_message=f"{title} (!{number})", sha=mr.sha))
        except PermanentError as exc:
            raise PermanentError(f"{exc}{self._why_not(number)}") from None
        return str(self._get(number).merge_commit_sha)

    def get(self, *, number: int) -> PullRequest:
        return _summary(self._get(number))

    def reviews(self, *, number: int) -> list[Review]:
        """Who approved the merge request, as approvals of its current head (GitLab does not say which
        commit an approval was for; the project setting "remove all approvals when commits are
        added" makes GitLab itself drop approvals of older content)."""
        mr = self._get(number)
        approvals = self._call(lambda: mr.approvals.get())
        users = [entry.get("user") or {} for entry in approvals.approved_by or []]
        return [Review(_review_id(number, u.get("username", ""), mr.sha), str(u.get("username", "")), "APPROVED", "",
                       str(mr.sha)) for u in users if u.get("username")]  # fmt: skip

    def head(self, branch: str) -> str | None:
        try:
            found = self._call(lambda: self._projects().branches.get(branch))
        except PermanentError as exc:
            if " 404 " in f"{exc} ":
                return None
            raise
        return str(found.commit["id"])

    def checks(self, *, sha: str) -> dict[str, str]:
        """The commit statuses of `sha` (pipeline jobs and external checks): name → state."""
        statuses = self._call(lambda: self._projects().commits.get(sha).statuses.list(all=True))
        return {str(s.name): str(s.status) for s in statuses}

    # -- plumbing ------------------------------------------------------------------------------

    def _find(self, branch: str, base: str) -> ProjectMergeRequest | None:
        found = self._call(lambda: self._projects().mergerequests.list(
            state="opened", source_branch=branch, target_branch=base, get_all=True))  # fmt: skip
        return found[0] if found else None

    def _get(self, number: int) -> ProjectMergeRequest:
        return self._call(lambda: self._projects().mergerequests.get(number))

    def _projects(self) -> Project:
        if self._project is None:
            self._project = self._call(lambda: self._client.projects.get(self.project_path))
        return self._project

    def _why_not(self, number: int) -> str:
        try:
            mr = self._get(number)
        except (PermanentError, TransientError):
            return ""
        status = getattr(mr, "detailed_merge_status", None) or getattr(mr, "merge_status", "")
        return f" ({WHY_NOT[status]})" if status in WHY_NOT else (f" ({status})" if status else "")

    def _call(self, action: Callable[[], T]) -> T:
        try:
            return action()
        except RateLimited as exc:
            raise TransientError(f"GitLab rate limit for {self.project_path}; retry in {exc.wait:.0f}s") from None
        except GitlabError as exc:
            raise _error(exc, self.project_path) from None
        except requests.RequestException as exc:  # connection refused, timeouts, TLS
            raise TransientError(f"GitLab unreachable for {self.project_path}: {exc}") from None


def _bounded_rate_limit(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
    """Let python-gitlab wait out a 429 only when the wait is short."""
    if response.status_code == 429:
        wait = _retry_after(response.headers)
        if wait > MAX_RATE_LIMIT_WAIT:
            raise RateLimited(wait)
    return response


def _retry_after(headers: Any) -> float:
    try:
        if "Retry-After" in headers:
            return max(0.0, float(headers["Retry-After"]))
        if "RateLimit-Reset" in headers:
            return max(0.0, float(headers["RateLimit-Reset"]) - time.time())
    except ValueError:
        pass
    return 1.0


def _summary(mr: ProjectMergeRequest) -> PullRequest:
    state = {"opened": "open", "merged": "merged"}.get(str(mr.state), "closed")
    merged = str(mr.merge_commit_sha) if state == "merged" and mr.merge_commit_sha else None
    return PullRequest(int(mr.iid), str(mr.web_url), state, str(mr.sha) if mr.sha else None, merged)


def _review_id(number: int, username: str, sha: str) -> int:
    """A stable id for "this user approved this merge request at this head" (GitLab gives approvals no id)."""
    digest = hashlib.sha256(f"gitlab\n{number}\n{username.lower()}\n{sha}".encode()).digest()
    return int.from_bytes(digest[:6], "big")


def _error(exc: GitlabError, project: str) -> Exception:
    message = exc.error_message
    if isinstance(message, list):
        message = "; ".join(map(str, message))
    elif isinstance(message, dict):
        message = "; ".join(f"{k} {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in message.items())
    code = exc.response_code or 0
    text = f"GitLab {project}: {code} {message}".replace(f"{code} {code} ", f"{code} ")
    return TransientError(text) if code >= 500 or code == 429 or code == 0 else PermanentError(text)
