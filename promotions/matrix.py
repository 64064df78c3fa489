"""The version matrix read from Git: every repository fetched and read, as one document.

Used by the `matrix` command (straight from Git) and by `services.matrix_refresh`
(which stores the result for the pages).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from promotions.config import Catalog
from promotions.config.schema import RepositoryConfig
from promotions.errors import PortalError
from promotions.gitread import Cell, RepositorySnapshot, repository_snapshot_read
from promotions.integrations.git import GitRepository, repository_for

CELL_KEYS = ("version", "path", "line", "commit", "author", "date", "subject", "error")


@dataclass
class RepositoryRead:
    name: str
    snapshot: RepositorySnapshot | None
    error: str | None  # why it could not be fetched or read


def git_repository(repo: RepositoryConfig, *, data_dir: Path | None = None) -> GitRepository:
    """The local clone of a configured repository (created on first sync)."""
    token_env = repo.github.token_env if repo.github else ""
    return repository_for(
        name=repo.name,
        url=repo.url,
        branch=repo.branch,
        data_dir=data_dir or settings.DATA_DIR,
        timeout=settings.GITOPS_PORTAL_GIT_TIMEOUT,
        token_env=token_env,
    )


def matrix_read_git(*, catalog: Catalog, data_dir: Path | None = None) -> list[RepositoryRead]:
    """Fetch every repository and read its cells at the fetched commit (cached by sha)."""
    data_dir = data_dir or settings.DATA_DIR
    reads = []
    for repo_config in catalog.repositories:
        repo = git_repository(repo_config, data_dir=data_dir)
        try:
            commit = repo.sync()
            snapshot = repository_snapshot_read(catalog=catalog, repo=repo, commit=commit, cache_dir=data_dir / "cache")
        except PortalError as exc:
            reads.append(RepositoryRead(repo_config.name, None, str(exc)))
        else:
            reads.append(RepositoryRead(repo_config.name, snapshot, None))
    return reads


def matrix_document(*, catalog: Catalog, reads: list[RepositoryRead]) -> dict[str, Any]:
    """The `matrix --json` / `GET /api/v1/matrix` document (a public contract)."""
    applications: dict[str, dict[str, Any]] = {}
    for read in reads:
        for cell in read.snapshot.cells if read.snapshot else []:
            app = applications.setdefault(
                cell.application, {"name": cell.application, "repository": read.name, "stages": {}}
            )
            if app["repository"] == read.name:  # the first repository declaring a name owns it
                app["stages"][cell.stage] = cell_document(cell)
    return {
        "repositories": [
            {"name": r.name, "commit": r.snapshot.commit if r.snapshot else None, "error": r.error} for r in reads
        ],
        "stages": catalog.stage_names,
        "applications": [applications[name] for name in sorted(applications)],
    }


def cell_document(cell: Cell) -> dict[str, Any]:
    if cell.path is None:
        return dict.fromkeys(CELL_KEYS)
    return {key: getattr(cell, key) for key in CELL_KEYS}
