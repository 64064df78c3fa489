"""From a catalogue repository to the systems behind it: its local clone and its hosting provider."""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings

from promotions.catalogue.schema import RepositoryConfig
from promotions.errors import PermanentError
from promotions.gitops.repository import GitRepository, repository_for
from promotions.hosting.base import ScmProvider
from promotions.hosting.local import LocalProvider


def provider_for(repo: RepositoryConfig, *, git: GitRepository, portal_url: str) -> ScmProvider:
    """The provider a repository's catalogue entry asks for (each host's client imported only when used)."""
    if repo.provider == "local":
        return LocalProvider(git=git, portal_url=portal_url)
    token = os.environ.get(repo.token_env, "")
    if not token:
        raise PermanentError(
            f"repository {repo.name!r}: {repo.token_env} is not set; the {repo.provider} provider needs a token"
        )
    if repo.gitlab is not None and repo.provider == "gitlab":
        from promotions.hosting.gitlab import GitLabProvider

        return GitLabProvider(project=repo.gitlab.project, api_url=repo.gitlab.server, token=token)
    if repo.gitea is not None and repo.provider == "gitea":
        from promotions.hosting.gitea import GiteaProvider

        return GiteaProvider(repo=repo.gitea.repo, api_url=repo.gitea.api, token=token)
    from promotions.hosting.github import GitHubProvider

    assert repo.github is not None
    return GitHubProvider(repo=repo.github.repo, api_url=repo.github.api_url, token=token)


def git_repository(repo: RepositoryConfig, *, data_dir: Path | None = None) -> GitRepository:
    """The local clone of a configured repository (created on first sync)."""
    token_env = repo.token_env
    return repository_for(
        name=repo.name,
        url=repo.url,
        branch=repo.branch,
        data_dir=data_dir or settings.DATA_DIR,
        timeout=settings.GITOPS_PORTAL_GIT_TIMEOUT,
        token_env=token_env,
    )
