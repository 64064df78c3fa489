"""An application's version history per stage, read from the persistent clone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache

from promotions.catalogue.connect import git_repository
from promotions.catalogue.lookups import Catalog
from promotions.gitops.repository import NULL_SHA, Change
from promotions.matrix.snapshot import BlobReader, cached_results


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
    changes: dict[str, list[Change]] = {}
    with repo.iter_changes(commit, {sf.path for sf in spec.files.values()}) as stream:
        for path, change in stream:
            changes.setdefault(path, []).append(change)
    limit = settings.GITOPS_PORTAL_MAX_FILE_BYTES
    known = cached_results(cache_dir=settings.DATA_DIR / "cache", repository=repository, max_bytes=limit)
    reader = BlobReader(repo, known, limit)
    reader.evaluate(
        (sf.locator, blob)
        for sf in spec.files.values()
        for change in changes.get(sf.path, [])
        for blob in (change.old_blob, change.new_blob)
        if blob != NULL_SHA
    )
    history = {}
    for stage, sf in spec.files.items():
        entries = []
        for change in changes.get(sf.path, []):
            version, line, problem = (
                reader.result(sf.locator, change.new_blob)
                if change.new_blob != NULL_SHA
                else (None, None, "file deleted")
            )
            before = reader.result(sf.locator, change.old_blob)[0] if change.old_blob != NULL_SHA else None
            if version is None or version != before:
                error = f"{sf.path}:{line}: {problem}" if problem and line else problem
                c = change.commit
                entries.append(HistoryEntry(version, error, c.sha, c.author, datetime.fromisoformat(c.date), c.subject))
        history[stage] = entries
    return history
