"""Links to a repository's pages on its Git host (commits, branches, pull requests), for people.

Built from the catalogue's settings alone: no client, no request. A host the portal does not know
pages of (the built-in `local` provider) has none, and pages show plain shas instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlsplit

# Where each host keeps a repository's pages: commit, branch, pull (merge) request.
PAGES = {
    "github": ("commit/{}", "tree/{}", "pull/{}"),
    "gitlab": ("-/commit/{}", "-/tree/{}", "-/merge_requests/{}"),
    "gitea": ("commit/{}", "src/branch/{}", "pulls/{}"),
}


@dataclass(frozen=True)
class HostLinks:
    base: str  # the repository's home page, e.g. https://github.com/acme/platform
    host: str = "github"

    def commit(self, sha: str) -> str:
        return f"{self.base}/{PAGES[self.host][0].format(quote(sha, safe=''))}"

    def branch(self, name: str) -> str:
        return f"{self.base}/{PAGES[self.host][1].format(quote(name, safe='/'))}"

    def pull(self, number: int) -> str:
        return f"{self.base}/{PAGES[self.host][2].format(int(number))}"


def github_links(*, repo: str, api_url: str) -> HostLinks | None:
    """GitHub's pages for `repo` (owner/name): github.com for the public API, the same host for
    GitHub Enterprise Server (`https://ghe.example/api/v3`); None for an API address that is not
    http(s)."""
    parts = urlsplit(api_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    if parts.netloc == "api.github.com":
        root = "https://github.com"
    else:  # GitHub Enterprise Server: pages at the API's address without its /api/v3
        root = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/').removesuffix('/api/v3')}"
    owner, _, name = repo.partition("/")
    return HostLinks(f"{root}/{quote(owner, safe='')}/{quote(name, safe='')}")


def gitlab_links(*, project: str, server: str) -> HostLinks | None:
    """A GitLab project's pages: the server's address, then the project's path (groups included)."""
    return _under(server, project, "gitlab")


def gitea_links(*, repo: str, api_url: str) -> HostLinks | None:
    """A Gitea or Forgejo repository's pages: the server's address (without /api/v1), then owner/name."""
    return _under(api_url.rstrip("/").removesuffix("/api/v1"), repo, "gitea")


def _under(server: str, path: str, host: str) -> HostLinks | None:
    parts = urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return HostLinks(f"{server.rstrip('/')}/{quote(path, safe='/')}", host)
