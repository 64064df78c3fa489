"""Gitea and Forgejo (API v1) over plain HTTP with `requests`: the only module that speaks to them.

No maintained Python client covers what the portal needs (pull requests, reviews, commit statuses,
merge) against both Gitea and Forgejo, and the API is small, so this module is the client: JSON
over `Authorization: token …`, errors classed like the other hosts'. As with GitHub, a pull request
is found by its head branch before one is created (a retried task never opens a second), writes
are not retried blindly, and a 429 waits for `Retry-After` within a bound.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import quote

import requests

from promotions.errors import PermanentError, TransientError
from promotions.gitops.repository import Person
from promotions.hosting.base import PullRequest, Review

MAX_RATE_LIMIT_WAIT = 60.0
TIMEOUT = 15
PAGE = 50
_TOKEN_ECHO = re.compile(r"\[sha: [^\]]*\]")
REVIEW_STATES = {"APPROVED": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}
LABEL_COLOUR = "#1f6feb"


class GiteaProvider:
    name = "gitea"

    def __init__(self, *, repo: str, api_url: str, token: str) -> None:
        self.full_name = repo
        self._base = f"{api_url.rstrip('/')}/repos/{quote(repo, safe='/')}"
        self._token = token
        self._session = requests.Session()
        self._session.headers.update({"Authorization": f"token {token}", "Accept": "application/json",
                                      "User-Agent": "gitops-portal"})  # fmt: skip

    def open(
        self, *, number_hint: int, branch: str, base: str, title: str, body: str, labels: list[str]
    ) -> PullRequest:
        pr = self._find(branch, base)
        if pr is None:
            try:
                pr = self._call("POST", "/pulls", json={"head": branch, "base": base, "title": title, "body": body})
            except PermanentError as exc:
                if "already exists" not in str(exc):  # a concurrent or earlier attempt made it
                    raise
                pr = self._find(branch, base)
                if pr is None:
                    raise
        present = {str(label.get("name")) for label in pr.get("labels") or []}
        if labels and not present >= set(labels):
            ids = self._label_ids(labels)
            self._call("POST", f"/issues/{pr['number']}/labels", json={"labels": ids})
        return _summary(pr)

    def close(self, *, number: int, comment: str) -> None:
        pr = self._call("GET", f"/pulls/{number}")
        if pr.get("state") == "open":
            self._call("POST", f"/issues/{number}/comments", json={"body": comment})
            self._call("PATCH", f"/pulls/{number}", json={"state": "closed"})

    def merge(self, *, number: int, branch: str, base: str, title: str, committer: Person) -> str:
        pr = self._call("GET", f"/pulls/{number}")
        if pr.get("merged"):
            return str(pr.get("merge_commit_sha"))
        head = (pr.get("head") or {}).get("sha")
        self._call("POST", f"/pulls/{number}/merge", json={"Do": "merge", "MergeTitleField": f"{title} (#{number})",
                                                          "head_commit_id": head})  # fmt: skip
        return str(self._call("GET", f"/pulls/{number}").get("merge_commit_sha"))

    def get(self, *, number: int) -> PullRequest:
        return _summary(self._call("GET", f"/pulls/{number}"))

    def reviews(self, *, number: int) -> list[Review]:
        """Reviews on the pull request, oldest first; a dismissed one has the state DISMISSED, as on GitHub."""
        return [Review(int(r["id"]), str((r.get("user") or {}).get("login", "")), _review_state(r),
                       str(r.get("body") or ""), str(r.get("commit_id") or ""))
                for r in self._pages(f"/pulls/{number}/reviews")]  # fmt: skip

    def head(self, branch: str) -> str | None:
        try:
            found = self._call("GET", f"/branches/{quote(branch, safe='')}")
        except PermanentError as exc:
            if " 404 " in f"{exc} ":
                return None
            raise
        return str((found.get("commit") or {}).get("id"))

    def checks(self, *, sha: str) -> dict[str, str]:
        """The commit statuses of `sha`: context → state."""
        combined = self._call("GET", f"/commits/{sha}/status")
        return {str(s.get("context")): str(s.get("status") or s.get("state")) for s in combined.get("statuses") or []}

    # -- plumbing ------------------------------------------------------------------------------

    def _find(self, branch: str, base: str) -> dict[str, Any] | None:
        for pr in self._pages("/pulls", state="open"):
            if (pr.get("head") or {}).get("ref") == branch and (pr.get("base") or {}).get("ref") == base:
                return pr
        return None

    def _label_ids(self, names: list[str]) -> list[int]:
        known = {str(label["name"]): int(label["id"]) for label in self._pages("/labels")}
        for name in names:
            if name not in known:
                created = self._call("POST", "/labels", json={"name": name, "color": LABEL_COLOUR})
                known[name] = int(created["id"])
        return [known[name] for name in names]

    def _pages(self, path: str, **params: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for page in range(1, 1000):
            batch = self._call("GET", path, params={**params, "page": page, "limit": PAGE})
            found += batch
            if len(batch) < PAGE:
                return found
        return found

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        for attempt in range(3):
            try:
                response = self._session.request(method, f"{self._base}{path}", timeout=TIMEOUT, **kwargs)
            except requests.RequestException as exc:  # connection refused, timeouts, TLS
                raise TransientError(f"Gitea unreachable for {self.full_name}: {exc}") from None
            if response.status_code == 429:
                wait = _retry_after(response)
                if attempt == 2 or wait > MAX_RATE_LIMIT_WAIT:
                    raise TransientError(f"Gitea rate limit for {self.full_name}; retry in {wait:.0f}s")
                time.sleep(wait)
                continue
            if response.status_code >= 400:
                raise _error(response, self.full_name, self._token)
            return response.json() if response.content else {}
        raise AssertionError("unreachable")


def _review_state(review: dict[str, Any]) -> str:
    if review.get("dismissed"):
        return "DISMISSED"
    state = str(review.get("state"))
    return REVIEW_STATES.get(state, state)


def _retry_after(response: requests.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0


def _summary(pr: dict[str, Any]) -> PullRequest:
    state = "merged" if pr.get("merged") else str(pr.get("state", "open"))
    merged = str(pr["merge_commit_sha"]) if pr.get("merged") and pr.get("merge_commit_sha") else None
    return PullRequest(int(pr["number"]), str(pr.get("html_url", "")), state, (pr.get("head") or {}).get("sha"), merged)


def _error(response: requests.Response, repo: str, token: str) -> Exception:
    try:
        data = response.json()
        message = str(data.get("message") or data) if isinstance(data, dict) else str(data)
    except ValueError:
        message = response.text[:200] or response.reason
    # Gitea and Forgejo echo a refused token back ("access token does not exist [sha: …]"): never
    # let it reach a promotion's error, a log line or a page.
    message = _TOKEN_ECHO.sub("[sha: …]", message.replace(token, "…") if token else message)
    text = f"Gitea {repo}: {response.status_code} {message}"
    return TransientError(text) if response.status_code >= 500 else PermanentError(text)
