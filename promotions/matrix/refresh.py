"""Reading every repository of the catalogue and storing its cells for the pages (a worker's job:
never inside a web request)."""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from promotions.audit.chain import audit_record
from promotions.catalogue.connect import git_repository
from promotions.catalogue.lookups import Catalog
from promotions.errors import PortalError
from promotions.matrix.check import snapshot_problems
from promotions.matrix.dashboard import related_get
from promotions.matrix.snapshot import Cell, RepositorySnapshot, repository_snapshot_read
from promotions.matrix.sources import source_status_record
from promotions.models import RepositoryState, StageVersion
from promotions.queue import task_send
from promotions.text import redact

log = logging.getLogger(__name__)


@dataclass
class RefreshReport:
    repositories: int
    changed: list[str]
    errors: dict[str, str]


def matrix_refresh_request() -> str:
    """Ask a worker to re-read every repository now (Git is never read inside a web request);
    '' when queued, else why not."""
    problem = task_send("matrix_refresh_task")
    return f"could not start reading Git: {problem}; the periodic refresh will catch up" if problem else ""


def matrix_refresh(
    *, catalog: Catalog, data_dir: Path | None = None, repositories: Collection[str] | None = None
) -> RefreshReport:
    """Fetch every repository (or only the named `repositories`) and store its cells when the commit
    or the catalogue changed.

    A repository that cannot be fetched keeps its last good cells, with the reason
    recorded on its state (pages show both).
    """
    changed: list[str] = []
    errors: dict[str, str] = {}
    wanted = [r.name for r in catalog.repositories if repositories is None or r.name in repositories]
    for name in wanted:
        while _slot_take(name):
            try:
                _refresh_one(catalog, name, data_dir, changed, errors)
            finally:
                cache.delete(_RUNNING.format(name))
            if not _dirty_take(name):  # asked again while reading (checked after letting go): read again
                break
    _forget_removed(catalog)
    if changed:
        related_get(catalog=catalog)  # the dashboard's relations for the new cells, worked out here, not in a page
    return RefreshReport(len(catalog.repositories), changed, errors)


# Refreshes of one repository coalesce: one runs at a time (across processes, through the cache:
# Redis when configured); a request meanwhile only marks it dirty, and the running one reads again.
_RUNNING, _DIRTY = "matrix-refresh:running:{}", "matrix-refresh:dirty:{}"


def _slot_take(repository: str) -> bool:
    """Whether this call should read `repository` now (False: another refresh is reading it and
    will read again for this request)."""
    ttl = int(settings.CELERY_TASK_TIME_LIMIT)  # a refresh that died (killed at this limit) frees the slot
    if cache.add(_RUNNING.format(repository), 1, ttl):
        return True
    cache.set(_DIRTY.format(repository), 1, ttl)
    if cache.add(_RUNNING.format(repository), 1, ttl):  # it let go in between: read after all
        cache.delete(_DIRTY.format(repository))
        return True
    return False


def _dirty_take(repository: str) -> bool:
    dirty = _DIRTY.format(repository)
    if cache.get(dirty):
        cache.delete(dirty)
        return True
    return False


def _refresh_one(catalog: Catalog, name: str, data_dir: Path | None, changed: list[str],
                 errors: dict[str, str]) -> None:  # fmt: skip
    """Versions first, stored as soon as they are read (a first read clones shallow and skips
    history); then, when that read left it out, the history behind them ("changed by", when)."""
    snapshot = _read_store(catalog, name, data_dir, changed, errors, history=False)
    if snapshot is not None and snapshot.pending:
        _read_store(catalog, name, data_dir, changed, errors, history=True)


def _read_store(catalog: Catalog, name: str, data_dir: Path | None, changed: list[str], errors: dict[str, str],
                *, history: bool) -> RepositorySnapshot | None:  # fmt: skip
    now = timezone.now()
    snapshot = None
    for read in matrix_read_git(catalog=catalog, data_dir=data_dir, repositories=[name], history=history):
        repo = catalog.repository(read.name)
        if read.snapshot is None:
            errors[read.name] = read.error or "unknown error"
            log.warning("matrix refresh: %s", read.error)
            source_status_record("git", read.name, up=False, reason=errors[read.name], now=now)
            RepositoryState.objects.update_or_create(
                name=read.name,
                defaults={"url": redact(repo.url), "branch": repo.branch, "checked_at": now, "error": read.error},
            )
            continue
        snapshot = read.snapshot
        source_status_record("git", read.name, up=True, reason="", now=now)
        problems = _problems_if_changed(catalog, read.snapshot, data_dir)
        if _snapshot_store(read.snapshot, url=redact(repo.url), branch=repo.branch, now=now, problems=problems):
            changed.append(read.name)
    return snapshot


def _problems_if_changed(catalog: Catalog, snapshot: RepositorySnapshot, data_dir: Path | None) -> list[str] | None:
    """What the catalogue gets wrong about the repository (`catalogue check`, shown to admins), worked
    out again only when the commit or the catalogue changed; None when the stored list still holds."""
    state = RepositoryState.objects.filter(name=snapshot.repository).first()
    read = (snapshot.commit, snapshot.fingerprint)
    if state and state.problems is not None and (state.commit, state.fingerprint) == read:
        return None
    if state and state.problems is not None and _follows(state, snapshot):
        return None  # only files were modified since the stored read: the same files exist
    return snapshot_problems(catalog=catalog, snapshot=snapshot, data_dir=data_dir)


@transaction.atomic
def _snapshot_store(
    snapshot: RepositorySnapshot, *, url: str, branch: str, now: datetime, problems: list[str] | None = None
) -> bool:
    state, _ = RepositoryState.objects.get_or_create(name=snapshot.repository, defaults={"url": url, "branch": branch})
    state = RepositoryState.objects.select_for_update().get(pk=state.pk)  # one writer per repository
    unchanged = state.commit == snapshot.commit and state.fingerprint == snapshot.fingerprint
    state.url, state.branch, state.checked_at, state.error = url, branch, now, ""
    if problems is not None:
        state.problems = problems
    if state.fingerprint and state.fingerprint != snapshot.fingerprint:
        audit_record(
            action="config.reloaded", actor="system", message="the catalogue changed and was read again",
            targets={"repository": snapshot.repository},
            before={"fingerprint": state.fingerprint}, after={"fingerprint": snapshot.fingerprint},
        )  # fmt: skip
    filled = unchanged and snapshot.base == snapshot.commit and snapshot.changed
    if unchanged and not filled:
        state.save(update_fields=["url", "branch", "checked_at", "error", "problems"])
        return False
    if filled and len(snapshot.changed or ()) <= _UPDATE_AT_MOST:
        _cells_update(snapshot.repository, snapshot.changed or [])
    elif filled:
        _cells_replace(snapshot)  # the history of a first read: every cell gained its last change
    elif _follows(state, snapshot) and snapshot.changed is not None:
        _cells_update(snapshot.repository, snapshot.changed)
    else:
        _cells_replace(snapshot)
    state.commit, state.fingerprint, state.read_at = snapshot.commit, snapshot.fingerprint, now
    state.save()
    return True


_UPDATE_AT_MOST = 500  # cells written one UPDATE each; more are replaced in bulk


def _follows(state: RepositoryState, snapshot: RepositorySnapshot) -> bool:
    """Whether `snapshot` was read as the changes since the commit the store holds (same catalogue)."""
    return snapshot.base is not None and (state.commit, state.fingerprint) == (snapshot.base, snapshot.fingerprint)


def _cells_update(repository: str, cells: list[Cell]) -> None:
    """Write only the cells a commit changed: one UPDATE each (a promotion changes one or a few)."""
    for cell in cells:
        row = _row(repository, cell)
        fields = {name: getattr(row, name) for name in CELL_FIELDS}
        StageVersion.objects.filter(repository=repository, application=cell.application, stage=cell.stage).update(
            **fields
        )


def _cells_replace(snapshot: RepositorySnapshot) -> None:
    """Write every cell of a repository read in full."""
    StageVersion.objects.filter(repository=snapshot.repository).delete()
    taken = set(
        StageVersion.objects.filter(application__in=snapshot.applications).values_list("application", flat=True)
    )
    StageVersion.objects.bulk_create(
        _row(snapshot.repository, cell) for cell in snapshot.cells if cell.application not in taken
    )


CELL_FIELDS = ("version", "path", "line", "error", "commit", "author", "author_email", "changed_at", "subject")


def _row(repository: str, cell: Cell) -> StageVersion:
    return StageVersion(
        repository=repository,
        application=cell.application,
        stage=cell.stage,
        version=cell.version,
        path=cell.path,
        line=cell.line,
        error=cell.error,
        commit=cell.commit or "",
        author=cell.author or "",
        author_email=cell.email or "",
        changed_at=datetime.fromisoformat(cell.date) if cell.date else None,
        subject=(cell.subject or "")[:1000],
    )


def _forget_removed(catalog: Catalog) -> None:
    """Drop the cells of repositories the catalogue no longer lists (found from the few state rows,
    not by scanning every cell on each refresh)."""
    names = [repo.name for repo in catalog.repositories]
    gone = list(RepositoryState.objects.exclude(name__in=names).values_list("name", flat=True))
    if gone:
        StageVersion.objects.filter(repository__in=gone).delete()
        RepositoryState.objects.filter(name__in=gone).delete()


@dataclass
class RepositoryRead:
    name: str
    snapshot: RepositorySnapshot | None
    error: str | None  # why it could not be fetched or read


def matrix_read_git(
    *,
    catalog: Catalog,
    data_dir: Path | None = None,
    repositories: Collection[str] | None = None,
    history: bool = True,
) -> list[RepositoryRead]:
    """Fetch every repository and read its cells at the fetched commit (cached by sha). Without
    `history`, a first clone is shallow and the cells lack their last change (`pending`); with it,
    a shallow clone is deepened first."""
    data_dir = data_dir or settings.DATA_DIR
    reads = []
    for repo_config in catalog.repositories:
        if repositories is not None and repo_config.name not in repositories:
            continue
        repo = git_repository(repo_config, data_dir=data_dir)
        try:
            commit = repo.sync(shallow=not history)
            if history:
                repo.deepen()
            snapshot = repository_snapshot_read(catalog=catalog, repo=repo, commit=commit, cache_dir=data_dir / "cache",
                                                max_bytes=settings.GITOPS_PORTAL_MAX_FILE_BYTES,
                                                history=history)  # fmt: skip
        except PortalError as exc:
            reads.append(RepositoryRead(repo_config.name, None, str(exc)))
        else:
            reads.append(RepositoryRead(repo_config.name, snapshot, None))
    return reads
