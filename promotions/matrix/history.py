"""An application's version history per stage, read from the persistent clone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache

from promotions.catalogue.connect import git_repository
from promotions.catalogue.lookups import Catalog, StageFile
from promotions.gitops.repository import NULL_SHA, Change, Commit
from promotions.gitops.yaml.locators import KustomizeImageLocator, WorkloadImageLocator
from promotions.matrix.bases import REFERENCES, AnyLocator
from promotions.matrix.snapshot import BlobReader, cached_results, cell_sources, stage_files


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
    tree = repo.tree(commit)
    limit = settings.GITOPS_PORTAL_MAX_FILE_BYTES
    known = cached_results(cache_dir=settings.DATA_DIR / "cache", repository=repository, max_bytes=limit)
    reader = BlobReader(repo, known, limit)
    # The files each stage's version comes from now: its own, layered ones, an overlay's base.
    paths = {stage: _files(reader, sf, tree) for stage, sf in spec.files.items()}
    changes: list[tuple[str, Change]] = []
    with repo.iter_changes(commit, {path for files in paths.values() for path in files}) as stream:
        changes.extend(stream)
    blobs = {b for _, ch in changes for b in (ch.old_blob, ch.new_blob)} - {NULL_SHA}
    reader.evaluate((locator, blob) for sf in spec.files.values() for locator in _locators(sf) for blob in blobs)
    return {stage: _stage_history(reader, sf, paths[stage], changes, tree) for stage, sf in spec.files.items()}


def _files(reader: BlobReader, sf: StageFile, tree: dict[str, str]) -> set[str]:
    files = stage_files(sf, tree)
    reader.evaluate((sf.locator, blob) for _, blob in files if blob)
    holder = cell_sources(reader, tree, [(sf, files)])[0][1] if sf.path in tree else sf.path
    return {*sf.paths, holder}


def _locators(sf: StageFile) -> list[AnyLocator]:
    if isinstance(sf.locator, KustomizeImageLocator) and sf.locator.image:
        return [sf.locator, REFERENCES, WorkloadImageLocator(sf.locator.image)]
    return [sf.locator, REFERENCES] if isinstance(sf.locator, KustomizeImageLocator) else [sf.locator]


def _stage_history(
    reader: BlobReader, sf: StageFile, paths: set[str], changes: list[tuple[str, Change]], tree: dict[str, str]
) -> list[HistoryEntry]:
    """Newest first, each commit that changed the stage's version: the version the stage gets
    from all its files (a change in a shared base or values file counts where it shows)."""
    state: dict[str, str | None] = {path: tree.get(path) for path in paths}
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
        version, line, problem, where = _effective(reader, sf, tree, after)
        if version is None or version != _effective(reader, sf, tree, before)[0]:
            error = f"{where}:{line}: {problem}" if problem and line else problem
            entries.append(HistoryEntry(version, error, c.sha, c.author, datetime.fromisoformat(c.date), c.subject))
    return entries


def _blob(sha: str) -> str | None:
    return None if sha == NULL_SHA else sha


def _effective(
    reader: BlobReader, sf: StageFile, tree: dict[str, str], blobs: dict[str, str | None]
) -> tuple[str | None, int | None, str | None, str]:
    if blobs[sf.path] is None:
        return None, None, "file deleted", sf.path
    at = {path: blob for path, blob in (tree | blobs).items() if blob is not None}
    (version, line, problem), where, _ = cell_sources(reader, at, [(sf, stage_files(sf, at))])[0]
    return version, line, problem, where
