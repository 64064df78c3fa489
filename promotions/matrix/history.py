"""An application's version history per stage, read from the persistent clone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache

from promotions.catalogue.connect import git_repository
from promotions.catalogue.lookups import Catalog, StageFile
from promotions.gitops.repository import NULL_SHA, Change, Commit
from promotions.matrix.snapshot import BlobReader, cached_results, resolve


@dataclass(frozen=True)
class HistoryEntry:
    version: str | None
    error: str | None
    commit: str
    author: str
    date: datetime
    subject: str


def application_history_get(
    *, catalog: Catalog, name: str, repository: str, commit: str
) -> dict[str, list[HistoryEntry]]:
    """Per stage, newest first: each commit that changed the application's version there."""
    key = f"history:{repository}:{commit}:{catalog.fingerprint}:{name}"
    found = cache.get(key)
    if found is None:
        found = _read(catalog, name, repository, commit)
        cache.set(key, found, timeout=3600)
    return found


def _read(catalog: Catalog, name: str, repository: str, commit: str) -> dict[str, list[HistoryEntry]]:
    spec = catalog.application(name, repository)
    if spec is None or not commit:
        return {}
    repo = git_repository(catalog.repository(repository))
    if not repo.has_commit(commit):
        repo.sync()
    paths = {path for sf in spec.files.values() for path in sf.paths}
    changes: list[tuple[str, Change]] = []
    with repo.iter_changes(commit, paths) as stream:
        changes.extend(stream)
    tree = repo.tree(commit)
    limit = settings.GITOPS_PORTAL_MAX_FILE_BYTES
    known = cached_results(cache_dir=settings.DATA_DIR / "cache", repository=repository, max_bytes=limit)
    reader = BlobReader(repo, known, limit)
    blobs = {b for _, ch in changes for b in (ch.old_blob, ch.new_blob)} | {tree[p] for p in paths if p in tree}
    reader.evaluate((sf.locator, blob) for sf in spec.files.values() for blob in blobs - {NULL_SHA})
    return {stage: _stage_history(reader, sf, changes, tree) for stage, sf in spec.files.items()}


def _stage_history(
    reader: BlobReader, sf: StageFile, changes: list[tuple[str, Change]], tree: dict[str, str]
) -> list[HistoryEntry]:
    """Newest first, each commit that changed the stage's version: with layered files, the
    version a stage gets from all of them (a change in a shared base counts where it shows)."""
    state: dict[str, str | None] = {path: tree.get(path) for path in sf.paths}
    commits: dict[str, tuple[Commit, dict[str, Change]]] = {}  # in history order, newest first
    for path, change in changes:
        if path in state:
            commits.setdefault(change.commit.sha, (change.commit, {}))[1][path] = change
    entries = []
    for c, touched in commits.values():
        after = state | {path: _blob(ch.new_blob) for path, ch in touched.items()}
        before = state | {path: _blob(ch.old_blob) for path, ch in touched.items()}
        state = before
        if after[sf.path] is None and before[sf.path] is None:
            continue  # a shared file changed while the stage had no file of its own
        version, line, problem, where = _effective(reader, sf, after)
        if version is None or version != _effective(reader, sf, before)[0]:
            error = f"{where}:{line}: {problem}" if problem and line else problem
            entries.append(HistoryEntry(version, error, c.sha, c.author, datetime.fromisoformat(c.date), c.subject))
    return entries


def _blob(sha: str) -> str | None:
    return None if sha == NULL_SHA else sha


def _effective(
    reader: BlobReader, sf: StageFile, blobs: dict[str, str | None]
) -> tuple[str | None, int | None, str | None, str]:
    if blobs[sf.path] is None:
        return None, None, "file deleted", sf.path
    (version, line, problem), where = resolve(reader, sf.locator, [(p, blobs[p]) for p in reversed(sf.paths)])
    return version, line, problem, where
