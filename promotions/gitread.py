"""Read every application's declared version per stage from one repository at a commit.

Costs are bulk, never per cell: one `ls-tree`, one `cat-file --batch` for all files that
need parsing, one `git log --raw` for the history of all stage files. Results are cached
on disk by commit sha (an unchanged commit parses nothing) and, across commits, by
(locator, blob sha), so a new commit only parses the files it changed.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from promotions.config import AppSpec, Catalog, StageFile
from promotions.integrations.git import NULL_SHA, Change, GitRepository
from promotions.locators import LocateError, Locator
from promotions.yamlnodes import YAMLReadError, parse_documents

CACHE_FORMAT = 2
Result = tuple[str | None, int | None, str | None]  # version, line, problem


@dataclass(frozen=True)
class Cell:
    """One application in one stage, as declared in Git."""

    application: str
    stage: str
    version: str | None = None
    path: str | None = None
    line: int | None = None
    error: str | None = None
    commit: str | None = None
    author: str | None = None
    email: str | None = None
    date: str | None = None
    subject: str | None = None


@dataclass
class RepositorySnapshot:
    repository: str
    commit: str
    fingerprint: str
    applications: list[str]
    cells: list[Cell]
    results: dict[str, Result] = field(default_factory=dict, repr=False)


def repository_snapshot_read(
    *, catalog: Catalog, repo: GitRepository, commit: str, cache_dir: Path
) -> RepositorySnapshot:
    """The repository's cells at `commit`, from the cache when that commit was read before."""
    cache_file = cache_dir / f"{repo.name}.json"
    cached = _cache_load(cache_file)
    if cached and cached.commit == commit and cached.fingerprint == catalog.fingerprint:
        return cached
    reader = BlobReader(repo, cached.results if cached else {})
    tree = repo.tree(commit)
    apps = catalog.applications_in(repo.name, tree)
    present = [(app, stage, sf, tree[sf.path]) for app in apps for stage, sf in app.files.items() if sf.path in tree]
    reader.evaluate((sf.locator, blob) for _, _, sf, blob in present)
    history = repo.changes(commit, {sf.path for _, _, sf, _ in present})
    last = _last_changes(reader, [(sf, blob, history.get(sf.path, [])) for _, _, sf, blob in present])
    found = {
        (app.name, stage): _cell(app, stage, sf, reader.result(sf.locator, blob), change)
        for (app, stage, sf, blob), change in zip(present, last, strict=True)
    }
    cells = [found.get((app.name, stage)) or Cell(app.name, stage) for app in apps for stage in catalog.stage_names]
    snapshot = RepositorySnapshot(repo.name, commit, catalog.fingerprint, [a.name for a in apps], cells, reader.used)
    _cache_save(cache_file, snapshot)
    return snapshot


class BlobReader:
    """Locator results per (locator, blob), parsing each blob at most once."""

    def __init__(self, repo: GitRepository, known: dict[str, Result]) -> None:
        self.repo = repo
        self.known = known
        self.used: dict[str, Result] = {}

    def evaluate(self, pairs: Iterable[tuple[Locator, str]]) -> None:
        missing: dict[str, list[Locator]] = {}
        for locator, blob in pairs:
            key = f"{locator.key}@{blob}"
            if key in self.known:
                self.used[key] = self.known[key]
            else:
                missing.setdefault(blob, []).append(locator)
        for blob, content in self.repo.read_blobs(missing).items():
            for locator, result in zip(missing[blob], locate_all(content, missing[blob]), strict=True):
                self.known[f"{locator.key}@{blob}"] = self.used[f"{locator.key}@{blob}"] = result

    def result(self, locator: Locator, blob: str) -> Result:
        return self.used[f"{locator.key}@{blob}"]


def locate_all(content: bytes, locators: list[Locator]) -> list[Result]:
    """Apply several locators to one file's content, parsing it once."""
    try:
        docs = parse_documents(content)
    except YAMLReadError as exc:
        return [(None, exc.line, f"invalid YAML: {exc.message}")] * len(locators)
    results: list[Result] = []
    for locator in locators:
        try:
            found = locator.locate(docs)
            results.append((found.version, found.line, None))
        except LocateError as exc:
            results.append((None, exc.line, exc.message))
    return results


def _last_changes(reader: BlobReader, cells: list[tuple[StageFile, str, list[Change]]]) -> list[Change | None]:
    """For each cell, the newest commit that changed its *version* (not just its file).

    Walks each file's changes newest first and stops at the first whose previous blob
    held a different version. All blobs a round needs are read and parsed in one batch.
    """
    answer: list[Change | None] = [None] * len(cells)
    position = dict.fromkeys(range(len(cells)), 0)
    while position:
        reader.evaluate(
            (cells[i][0].locator, cells[i][2][p].old_blob)
            for i, p in position.items()
            if p < len(cells[i][2]) and cells[i][2][p].old_blob != NULL_SHA
        )
        for i, p in list(position.items()):
            stage_file, blob, changes = cells[i]
            if p >= len(changes):
                answer[i] = changes[-1] if changes else None
                del position[i]
                continue
            change = changes[p]
            current = reader.result(stage_file.locator, blob)[0]
            before = None if change.old_blob == NULL_SHA else reader.result(stage_file.locator, change.old_blob)[0]
            if current is None or before != current:
                answer[i] = change
                del position[i]
            else:
                position[i] = p + 1
    return answer


def _cell(app: AppSpec, stage: str, sf: StageFile, result: Result, change: Change | None) -> Cell:
    version, line, problem = result
    error = None
    if problem is not None:
        error = f"{sf.path}:{line}: {problem}" if line else f"{sf.path}: {problem}"
    commit = change.commit if change else None
    return Cell(
        application=app.name,
        stage=stage,
        version=version,
        path=sf.path,
        line=line,
        error=error,
        commit=commit.sha if commit else None,
        author=commit.author if commit else None,
        email=commit.email if commit else None,
        date=commit.date if commit else None,
        subject=commit.subject if commit else None,
    )


def cached_results(*, cache_dir: Path, repository: str) -> dict[str, Result]:
    """Locator results remembered from the last read of `repository` (empty if none)."""
    cached = _cache_load(cache_dir / f"{repository}.json")
    return cached.results if cached else {}


def _cache_load(path: Path) -> RepositorySnapshot | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if data.get("format") != CACHE_FORMAT:
        return None
    results = {k: tuple(v) for k, v in data["results"].items()}
    cells = [Cell(**c) for c in data["cells"]]
    return RepositorySnapshot(
        data["repository"], data["commit"], data["fingerprint"], data["applications"], cells, results
    )


def _cache_save(path: Path, snapshot: RepositorySnapshot) -> None:
    data = {
        "format": CACHE_FORMAT,
        "repository": snapshot.repository,
        "commit": snapshot.commit,
        "fingerprint": snapshot.fingerprint,
        "applications": snapshot.applications,
        "cells": [asdict(c) for c in snapshot.cells],
        "results": snapshot.results,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write-then-rename: a reader never sees a half-written cache.
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as tmp:
        json.dump(data, tmp, separators=(",", ":"))
    os.replace(tmp.name, path)
