"""Source-code hosting behind one interface: where a promotion's pull request lives.

- `local` (the embedded default, and plain Git servers): a pull request is the pushed
  branch plus the portal's own record; merging is a real git merge into the branch.
- `github` (GitHub and GitHub Enterprise): see `promotions.hosting.github`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from promotions.gitops.repository import Person


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
