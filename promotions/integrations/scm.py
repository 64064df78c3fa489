"""Source-code hosting behind one interface: where a promotion's pull request lives.

- `local` (the embedded default, and plain Git servers): a pull request is the pushed
  branch plus the portal's own record; merging is a real git merge into the branch.
- `github` (GitHub and GitHub Enterprise): see `promotions.integrations.github`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

from promotions.config.schema import RepositoryConfig
from promotions.errors import PermanentError
from promotions.integrations.git import GitRepository, Person, PushRejected

MERGE_ATTEMPTS = 5


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str
    state: str = "open"  # open | closed | merged
    head_sha: str | None = None
    merge_commit: str | None = None


@dataclass(frozen=True)
class Review:
    """A review given on the hosting side (GitHub): APPROVED, CHANGES_REQUESTED, COMMENTED…"""

    id: int
    login: str
    state: str
    body: str
    commit: str


class ScmProvider(Protocol):
    name: str

    def open(
        self, *, number_hint: int, branch: str, base: str, title: str, body: str, labels: list[str]
    ) -> PullRequest:
        """Find the open pull request for `branch`, or create it."""

    def close(self, *, number: int, comment: str) -> None:
        """Close without merging, leaving `comment` on it."""

    def merge(self, *, number: int, branch: str, base: str, title: str, committer: Person) -> str:
        """Merge into `base`; returns the merge commit."""

    def get(self, *, number: int) -> PullRequest:
        """The pull request's current state."""

    def reviews(self, *, number: int) -> list[Review]:
        """Reviews given on the hosting side (none for `local`: reviews happen in the portal)."""

    def head(self, branch: str) -> str | None:
        """The branch's current commit on the hosting side."""


class LocalProvider:
    """Pull requests as pushed branches plus the portal's record (numbered like the promotion)."""

    name = "local"

    def __init__(self, *, git: GitRepository, portal_url: str) -> None:
        self.git = git
        self.portal_url = portal_url.rstrip("/")

    def open(
        self, *, number_hint: int, branch: str, base: str, title: str, body: str, labels: list[str]
    ) -> PullRequest:
        if self.git.fetch_branch(branch) is None:
            raise PermanentError(f"repository {self.git.name!r}: branch {branch!r} was not pushed")
        return PullRequest(number_hint, f"{self.portal_url}/promotions/{number_hint}/")

    def close(self, *, number: int, comment: str) -> None:
        """Nothing to do remotely: the record is the pull request, and the branch is kept."""

    def merge(self, *, number: int, branch: str, base: str, title: str, committer: Person) -> str:
        message = f"Merge promotion #{number}: {title}\n\nPromotion-Id: {number}\n"
        for _ in range(MERGE_ATTEMPTS):
            head = self.git.fetch_branch(branch)
            if head is None:
                raise PermanentError(f"repository {self.git.name!r}: branch {branch!r} no longer exists")
            target = self.git.sync()
            commit = self.git.merge(base=target, head=head, message=message, committer=committer)
            try:
                self.git.push(commit, base)
            except PushRejected:
                continue
            return commit
        raise PushRejected(f"repository {self.git.name!r}: {base} kept moving; will retry the merge")

    def get(self, *, number: int) -> PullRequest:
        return PullRequest(number, f"{self.portal_url}/promotions/{number}/")

    def reviews(self, *, number: int) -> list[Review]:
        return []

    def head(self, branch: str) -> str | None:
        return self.git.fetch_branch(branch)


def provider_for(repo: RepositoryConfig, *, git: GitRepository, portal_url: str) -> ScmProvider:
    """The provider a repository's catalogue entry asks for."""
    if repo.provider == "github":
        from promotions.integrations.github import GitHubProvider

        assert repo.github is not None
        token = os.environ.get(repo.github.token_env, "")
        if not token:
            raise PermanentError(
                f"repository {repo.name!r}: {repo.github.token_env} is not set; the github provider needs a token"
            )
        return GitHubProvider(repo=repo.github.repo, api_url=repo.github.api_url, token=token)
    return LocalProvider(git=git, portal_url=portal_url)
