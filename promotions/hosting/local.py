"""The `local` provider (the embedded default, and plain Git servers): a pull request is the
pushed branch plus the portal's own record; merging is a real git merge into the branch."""

from __future__ import annotations

from promotions.errors import PermanentError
from promotions.gitops.repository import GitRepository, Person, PushRejected
from promotions.hosting.base import PullRequest, Review

MERGE_ATTEMPTS = 5


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
