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
            snapshot = repository_snapshot_read(catalog=catalog, repo=repo, commit=commit, cache_dir=data_dir / "cache",
                                                max_bytes=settings.GITOPS_PORTAL_MAX_FILE_BYTES)  # fmt: skip
        except PortalError as exc:
            reads.append(RepositoryRead(repo_config.name, None, str(exc)))
        else:
            reads.append(RepositoryRead(repo_config.name, snapshot, None))
    return reads


LIVE_KEYS = ("version", "versions", "health", "sync", "ready", "desired", "reason", "observed_at")


def matrix_document(
    *, catalog: Catalog, reads: list[RepositoryRead], live: dict[tuple[str, str], dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The `matrix --json` / `GET /api/v1/matrix` document (a public contract). Each cell's
    `live` is what its stage's cluster runs (null when the stage has no cluster)."""
    clustered = {stage.name for stage in catalog.stages if stage.cluster is not None}
    live = live or {}
    applications: dict[str, dict[str, Any]] = {}
    for read in reads:
        for cell in read.snapshot.cells if read.snapshot else []:
            app = applications.setdefault(
                cell.application, {"name": cell.application, "repository": read.name, "stages": {}}
            )
            if app["repository"] == read.name:  # the first repository declaring a name owns it
                document = cell_document(cell)
                document["live"] = _live(cell, clustered, live)
                app["stages"][cell.stage] = document
    return {
        "repositories": [
            {"name": r.name, "commit": r.snapshot.commit if r.snapshot else None, "error": r.error} for r in reads
        ],
        "stages": catalog.stage_names,
        "applications": [applications[name] for name in sorted(applications)],
    }


def _live(cell: Cell, clustered: set[str], live: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any] | None:
    return live_document(live.get((cell.application, cell.stage)), cell.stage in clustered and cell.path is not None)


def live_document(found: dict[str, Any] | None, observable: bool) -> dict[str, Any] | None:
    """A cell's `live`: null where the stage has no cluster (or Git has no such file); `stale`
    when it was observed too long ago to be taken as what runs now."""
    if not observable:
        return None
    if found is None:
        unseen = {"versions": [], "health": "Unknown", "sync": "Unknown", "reason": "not observed yet", "stale": False}
        return dict.fromkeys(LIVE_KEYS) | unseen
    return {key: found[key] for key in LIVE_KEYS} | {"stale": bool(found.get("stale"))}


def live_documents() -> dict[tuple[str, str], dict[str, Any]]:
    """Stored live states by (application, stage), as the matrix document shows them."""
    from django.utils import timezone

    from promotions.live import is_stale
    from promotions.models import LiveState

    now, refresh = timezone.now(), settings.GITOPS_PORTAL_LIVE_REFRESH_SECONDS
    rows = LiveState.objects.values("application", "stage", *LIVE_KEYS)
    return {
        (r["application"], r["stage"]): r
        | {"observed_at": r["observed_at"].isoformat(), "stale": is_stale(r["observed_at"], now, refresh)}
        for r in rows
    }


def cell_document(cell: Cell) -> dict[str, Any]:
    if cell.path is None:
        return dict.fromkeys(CELL_KEYS)
    return {key: getattr(cell, key) for key in CELL_KEYS}
