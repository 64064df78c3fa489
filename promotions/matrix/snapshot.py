"""Read every application's declared version per stage from one repository at a commit.

Costs are bulk, never per cell: one `ls-tree`, one `cat-file --batch` per round for all
files that need parsing, and one streamed `git log --raw` for the history of all stage
files, read only as far back as the oldest answer needs. Results are cached on disk:
an unchanged commit parses nothing; a new commit parses only the files it changed and
walks only the commits since the previous read.

A first read may leave history out (`history=False`): the cells carry versions and errors but
no "changed by", and the snapshot says `pending`; reading the same commit again with history
fills it in, listing in `changed` the cells that gained it. Versions then show in the time of
the current files (a shallow clone and one parse), however long the history behind them.

A new commit that only modifies files (the usual promotion: one stage file) costs what it
changed: `diff-tree` since the cached read names the files, the cache says which cells were
read from them, and only those cells are read again (`RepositorySnapshot.changed` lists the
ones that differ, for the store to update alone). Anything that could move other cells (a file
added or deleted, a kustomize base an overlay follows) reads the whole repository as before.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from operator import attrgetter
from pathlib import Path

import orjson

from promotions.catalogue.lookups import AppSpec, Catalog, StageFile
from promotions.gitops.repository import NULL_SHA, Change, ChangeStream, Commit, GitRepository
from promotions.gitops.yaml.locators import KustomizeImageLocator, LocateError, Locator
from promotions.gitops.yaml.nodes import YAMLReadError, parse_documents
from promotions.matrix.bases import INVALID_YAML, AnyLocator, BaseFollower, Result, Source, missing

CACHE_FORMAT = 8  # 8: kustomize-image also reads Argo CD kustomize image overrides
BATCH = 512  # history entries evaluated per cat-file round


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
    # "<locator key>@<path>" -> the commit that last changed that version (for incremental reads)
    last: dict[str, list[str]] = field(default_factory=dict, repr=False)
    # "<app>\x1f<stage>" -> the files its cell was read from (its layered files, then the file that
    # set the version): a commit touching none of them leaves the cell as it is
    sources: dict[str, list[str]] = field(default_factory=dict, repr=False)
    # Read without history: the cells' last-change fields are not known yet.
    pending: bool = False
    # Set by a read of only what changed since `base` (the commit of the previous read): the cells
    # that differ from it. None: a full read (store every cell).
    base: str | None = field(default=None, repr=False)
    changed: list[Cell] | None = field(default=None, repr=False)
    # Lookups built from `cells` and `sources` on first use and handed on to the next snapshot
    # while still true (a read of what changed keeps the cells' order and, usually, their files).
    _by_key: dict[str, int] | None = field(default=None, repr=False, compare=False)
    _readers: dict[str, list[str]] | None = field(default=None, repr=False, compare=False)

    def by_key(self) -> dict[str, int]:
        """ "<app>\\x1f<stage>" -> the cell's index in `cells`."""
        if self._by_key is None:
            self._by_key = {_cell_key(cell.application, cell.stage): n for n, cell in enumerate(self.cells)}
        return self._by_key

    def readers(self) -> dict[str, list[str]]:
        """path -> the keys of the cells read from it."""
        if self._readers is None:
            readers: dict[str, list[str]] = {}
            for key, files in self.sources.items():
                for path in dict.fromkeys(files):
                    readers.setdefault(path, []).append(key)
            self._readers = readers
        return self._readers


@dataclass(frozen=True)
class _Target:
    """A present cell whose last change is wanted."""

    key: str
    path: str
    locator: AnyLocator
    version: str | None


def repository_snapshot_read(
    *,
    catalog: Catalog,
    repo: GitRepository,
    commit: str,
    cache_dir: Path,
    max_bytes: int | None = None,
    history: bool = True,
) -> RepositorySnapshot:
    """The repository's cells at `commit`, from the cache when that commit was read before.
    Files bigger than `max_bytes` are not parsed: their cells say so. Without `history`, a read
    that is not in the cache leaves the cells' last change out (the snapshot is `pending`)."""
    cache_file = cache_dir / f"{repo.name}.json"
    cached = _cache_load(cache_file, max_bytes)
    same = cached is not None and cached.fingerprint == catalog.fingerprint
    if cached and same and cached.commit == commit and not (history and cached.pending):
        return cached
    if cached and same and cached.commit == commit:  # the history a first read left out
        filled = _full_read(catalog, repo, commit, cached, max_bytes, history=True)
        filled.base = commit
        if len(filled.cells) == len(cached.cells):  # same commit and catalogue: the same cells, in order
            filled.changed = [cell for cell, old in zip(filled.cells, cached.cells, strict=True) if cell != old]
        _cache_save(cache_file, filled, max_bytes)
        return filled
    if cached and same and cached.sources and not cached.pending:
        changes = _changes_read(catalog, repo, commit, cached, max_bytes)
        if changes is not None:
            _cache_save(cache_file, changes, max_bytes)
            return changes
    snapshot = _full_read(catalog, repo, commit, cached, max_bytes, history=history)
    _cache_save(cache_file, snapshot, max_bytes)
    return snapshot


def _full_read(
    catalog: Catalog,
    repo: GitRepository,
    commit: str,
    cached: RepositorySnapshot | None,
    max_bytes: int | None,
    *,
    history: bool,
) -> RepositorySnapshot:
    """Every cell at `commit` (parsing only blobs `cached` has no result for), with each cell's last
    change when `history`; that walk starts from `cached`'s answers when it read an ancestor."""
    reader = BlobReader(repo, dict(cached.results) if cached else {}, max_bytes)
    tree = repo.tree(commit)
    apps = catalog.applications_in(repo.name, tree)
    present = [
        (app, stage, sf, stage_files(sf, tree)) for app in apps for stage, sf in app.files.items() if sf.path in tree
    ]
    known = cached is not None and not cached.pending
    since = cached.commit if cached and known and repo.is_ancestor(cached.commit, commit) else None
    # History is streamed by git on another core while the current files are parsed here.
    paths = {path for *_, files in present for path, blob in files if blob} if history else set()
    if history and any(isinstance(sf.locator, KustomizeImageLocator) for _, _, sf, _ in present):
        paths |= {path for path in tree if path.endswith((".yaml", ".yml", "/Kustomization"))}  # bases, maybe
    with repo.iter_changes(commit, paths, since=since) as changes:
        reader.evaluate((sf.locator, blob) for _, _, sf, files in present for _, blob in files if blob)
        sources = cell_sources(reader, tree, [(sf, files) for _, _, sf, files in present])
        targets = [_Target(f"{locator.key}@{path}", path, locator, result[0]) for result, path, locator in sources]
        previous = cached.last if since and cached else {}
        unique = list({target.key: target for target in targets}.values())
        last = (
            last_changes(reader, repo, commit, unique, since=since, previous=previous, history=changes)
            if history
            else {}
        )
    cells = {
        (app.name, stage): _cell(app, stage, path, result, last.get(target.key))
        for (app, stage, _, _), (result, path, _), target in zip(present, sources, targets, strict=True)
    }
    snapshot = RepositorySnapshot(
        repository=repo.name,
        commit=commit,
        fingerprint=catalog.fingerprint,
        applications=[app.name for app in apps],
        cells=[cells.get((app.name, stage)) or Cell(app.name, stage) for app in apps for stage in catalog.stage_names],
        results=reader.used,
        last={key: list(_commit_fields(c)) for key, c in last.items() if c},
        sources={
            _cell_key(app.name, stage): _source_files(sf, path)
            for (app, stage, sf, _), (_, path, _) in zip(present, sources, strict=True)
        },
        pending=not history,
    )
    return snapshot


def _changes_read(
    catalog: Catalog, repo: GitRepository, commit: str, cached: RepositorySnapshot, max_bytes: int | None
) -> RepositorySnapshot | None:
    """`cached` moved to `commit` by reading again only the cells whose files changed since; None when
    the change could move cells that are not known to depend on it (the caller reads everything)."""
    if not repo.is_ancestor(cached.commit, commit):
        return None
    changes = repo.touched_paths(cached.commit, commit)
    if any(status != "M" for status in changes.values()):
        return None  # files added or deleted: applications may appear, vanish or move
    readers = cached.readers()
    if any(path not in readers and _may_be_a_base(path) for path in changes) and _follows_bases(cached):
        return None  # a kustomize base an overlay may follow changed: follow them all again
    keys = sorted({key for path in changes for key in readers.get(path, ())})
    by_key = cached.by_key()
    wanted = []
    for key in keys:
        app_name, _, stage = key.partition("\x1f")
        app = catalog.application(app_name, repo.name)
        if app is None or stage not in app.files or key not in by_key:
            return None
        wanted.append((app, stage, app.files[stage]))
    tree = repo.entries(commit, {p for _, _, sf in wanted for p in sf.paths}) if wanted else {}
    blobs = {path: sha for path, (_mode, sha) in tree.items()}
    present = [(app, stage, sf, stage_files(sf, blobs)) for app, stage, sf in wanted]
    reader = BlobReader(repo, dict(cached.results), max_bytes)
    with repo.iter_changes(commit, {path for *_, files in present for path, blob in files if blob},
                           since=cached.commit) as history:  # fmt: skip
        reader.evaluate((sf.locator, blob) for _, _, sf, files in present for _, blob in files if blob)
        sources = [(*resolve(reader, sf.locator, files), sf.locator) for _, _, sf, files in present]
        if any(isinstance(sf.locator, KustomizeImageLocator) and missing(result)
               for (_, _, sf, _), (result, _, _) in zip(present, sources, strict=True)):  # fmt: skip
            return None  # an overlay now without its own entry follows its bases: read them all
        targets = [_Target(f"{locator.key}@{path}", path, locator, result[0]) for result, path, locator in sources]
        unique = list({target.key: target for target in targets}.values())
        last = last_changes(reader, repo, commit, unique, since=cached.commit, previous=cached.last, history=history)
    cells = list(cached.cells)
    changed, files_of, moved = [], dict(cached.sources), False
    for (app, stage, sf, _), (result, path, _), target in zip(present, sources, targets, strict=True):
        key = _cell_key(app.name, stage)
        cell = _cell(app, stage, path, result, last.get(target.key))
        files_of[key] = _source_files(sf, path)
        moved = moved or files_of[key] != cached.sources[key]
        if cell != cells[by_key[key]]:
            cells[by_key[key]] = cell
            changed.append(cell)
    last_fields = dict(cached.last) | {key: list(_commit_fields(c)) for key, c in last.items() if c}
    return RepositorySnapshot(
        repository=repo.name, commit=commit, fingerprint=cached.fingerprint, applications=cached.applications,
        cells=cells, results=cached.results | reader.used, last=last_fields, sources=files_of,
        base=cached.commit, changed=changed, _by_key=by_key, _readers=None if moved else readers,
    )  # fmt: skip


def _cell_key(application: str, stage: str) -> str:
    return f"{application}\x1f{stage}"


def _source_files(sf: StageFile, path: str) -> list[str]:
    """The cell's layered files, then the file that set its version (one of them, or a base)."""
    return [*sf.paths, path]


def _may_be_a_base(path: str) -> bool:
    return path.endswith((".yaml", ".yml", "/Kustomization"))


def _follows_bases(snapshot: RepositorySnapshot) -> bool:
    """Whether some cell may depend on files other than its own: a kustomize overlay whose version
    comes from a base (or that has none yet)."""
    return any(
        cell.error is not None or files[-1] not in files[:-1]
        for cell in snapshot.cells
        if (files := snapshot.sources.get(_cell_key(cell.application, cell.stage)))
    )


class BlobReader:
    """Locator results per (locator, blob), parsing each blob at most once, and none bigger than
    `max_bytes` (a 50 MB file would take a process's memory and a minute: its result says so)."""

    def __init__(self, repo: GitRepository, known: dict[str, Result], max_bytes: int | None = None) -> None:
        self.repo = repo
        self.known = known
        self.max_bytes = max_bytes
        self.used: dict[str, Result] = {}
        self.content: dict[str, bytes] = {}  # raw blobs read ahead by `prefetch`
        self.oversized: dict[str, int] = {}  # blob -> size, for blobs over max_bytes

    def evaluate(self, pairs: Iterable[tuple[AnyLocator, str]]) -> None:
        unread: dict[str, list[AnyLocator]] = {}
        for locator, blob in pairs:
            key = f"{locator.key}@{blob}"
            if key in self.known:
                self.used[key] = self.known[key]
            elif locator not in unread.setdefault(blob, []):
                unread[blob].append(locator)
        fetched = {b: self.content[b] for b in unread if b in self.content}
        self._measure(b for b in unread if b not in fetched)
        fetched |= self.repo.read_blobs(b for b in unread if b not in fetched and b not in self.oversized)
        for blob in (b for b in unread if b in self.oversized):
            big: Result = (None, None, too_big(self.oversized[blob], self.max_bytes or 0))
            for locator in unread[blob]:
                self.known[f"{locator.key}@{blob}"] = self.used[f"{locator.key}@{blob}"] = big
        for blob, content in fetched.items():
            for locator, result in zip(unread[blob], locate_all(content, unread[blob]), strict=True):
                self.known[f"{locator.key}@{blob}"] = self.used[f"{locator.key}@{blob}"] = result

    def _measure(self, blobs: Iterable[str]) -> None:
        """Note which of `blobs` are over the size limit (one process, only with a limit)."""
        unknown = [b for b in blobs if b not in self.oversized]
        if self.max_bytes is None or not unknown:
            return
        sizes = self.repo.blob_sizes(unknown)
        self.oversized |= {blob: size for blob, size in sizes.items() if size > self.max_bytes}

    def result(self, locator: AnyLocator, blob: str) -> Result:
        return self.used[f"{locator.key}@{blob}"]

    def prefetch(self, blobs: Iterable[str]) -> None:
        """Read (not parse) many blobs in one round trip, for `changed` to look at."""
        wanted = set(blobs) - {NULL_SHA}
        kept = {blob: self.content[blob] for blob in wanted & self.content.keys()}
        self._measure(wanted - kept.keys())
        self.content = kept | self.repo.read_blobs(wanted - kept.keys() - self.oversized.keys())

    def changed(self, locator: AnyLocator, before: str, version: str) -> bool:
        """Whether blob `before` held a version other than `version`.

        A blob whose text does not even contain the version's text cannot hold it, so
        most history is answered without parsing; the rest is parsed to be sure.
        """
        if before == NULL_SHA:
            return True
        key = f"{locator.key}@{before}"
        if key not in self.known:
            content = self.content.get(before)
            if content is not None and version.encode() not in content:
                return True
            self.evaluate([(locator, before)])
        self.used[key] = self.known[key]
        return self.known[key][0] != version


def too_big(size: int, limit: int) -> str:
    """The error of a file over the parsing limit, for people."""
    return f"the file is {_size(size)}, over the {_size(limit)} limit for stage files (GITOPS_PORTAL_MAX_FILE_BYTES)"


def _size(count: int) -> str:
    return f"{count / 1048576:.1f} MB" if count >= 1048576 else f"{count / 1024:.0f} KB"


def locate_all(content: bytes, locators: list[AnyLocator]) -> list[Result]:
    """Apply several locators to one file's content, parsing it once."""
    try:
        docs = parse_documents(content)
    except YAMLReadError as exc:
        return [(None, exc.line, f"{INVALID_YAML}{exc.message}")] * len(locators)
    results: list[Result] = []
    for locator in locators:
        try:
            found = locator.locate(docs)
            results.append((found.version, found.line, None))
        except LocateError as exc:
            results.append((None, exc.line, exc.message))
    return results


def last_changes(
    reader: BlobReader,
    repo: GitRepository,
    commit: str,
    targets: list[_Target],
    *,
    since: str | None,
    previous: dict[str, list[str]],
    history: ChangeStream | None = None,
) -> dict[str, Commit | None]:
    """For each target, the newest commit that changed its *version* (not just its file).

    With `since` (an ancestor read before), only the commits after it are walked; a
    target they do not answer keeps the answer `previous` recorded at `since`, because
    its version did not change in between. Targets without such an answer (a new
    application, a changed locator) get a full walk.
    """
    if history is None:
        with repo.iter_changes(commit, {t.path for t in targets}, since=since) as history:
            answers, unanswered = _walk(reader, history, targets)
    else:
        answers, unanswered = _walk(reader, history, targets)
    if since is None:
        return answers
    full = []
    for target in unanswered:
        if target.key in previous:
            answers[target.key] = Commit(*previous[target.key])
        else:
            full.append(target)
    if full:
        with repo.iter_changes(commit, {t.path for t in full}) as history:
            answers |= _walk(reader, history, full, complete=True)[0]
    return answers


def _walk(
    reader: BlobReader, history: ChangeStream, targets: list[_Target], *, complete: bool = False
) -> tuple[dict[str, Commit | None], list[_Target]]:
    """Stream history newest first, answering each target at the first change whose blob
    before held another version; stops as soon as every target is answered."""
    answers: dict[str, Commit | None] = {}
    waiting: dict[str, list[_Target]] = {}
    for target in targets:
        waiting.setdefault(target.path, []).append(target)
    oldest: dict[str, Commit] = {}
    pending: list[tuple[_Target, Change]] = []

    def settle() -> None:
        reader.prefetch(ch.old_blob for t, ch in pending if t.version is not None)
        for target, change in pending:
            if target.key in answers:
                continue
            oldest[target.key] = change.commit
            if target.version is None or reader.changed(target.locator, change.old_blob, target.version):
                answers[target.key] = change.commit
                waiting[target.path].remove(target)
                if not waiting[target.path]:
                    del waiting[target.path]
        pending.clear()

    for seen, (path, change) in enumerate(history, start=1):
        pending.extend((target, change) for target in waiting.get(path, ()))
        if len(pending) >= BATCH or seen % (4 * BATCH) == 0:
            settle()
            if not waiting:
                break  # every target answered: the rest of the history is never read
    settle()
    unanswered = [t for group in waiting.values() for t in group]
    if complete:  # history ends without the file being added (a shallow clone): best known
        answers |= {t.key: oldest.get(t.key) for t in unanswered}
    return answers, unanswered


def _commit_fields(commit: Commit) -> tuple[str, str, str, str, str]:
    return commit.sha, commit.author, commit.email, commit.date, commit.subject


def stage_files(sf: StageFile, tree: dict[str, str]) -> list[tuple[str, str | None]]:
    """The files a stage's version may come from, the stage's own first, each with its blob
    (None when the repository lacks it): layered files in reverse order."""
    return [(path, tree.get(path)) for path in reversed(sf.paths)]


def cell_sources(
    reader: BlobReader, tree: dict[str, str], cells: list[tuple[StageFile, list[tuple[str, str | None]]]]
) -> list[Source]:
    """Each cell's result, the file holding it and the locator that read it: from its layered
    files, else (a kustomize overlay without its own entry) from its bases, all followed together."""
    sources: list[Source] = [(*resolve(reader, sf.locator, files), sf.locator) for sf, files in cells]
    overlays = [
        (i, sf.locator, sf.path)
        for i, (sf, _) in enumerate(cells)
        if isinstance(sf.locator, KustomizeImageLocator) and missing(sources[i][0])
    ]
    if overlays:
        follower = BaseFollower(reader, tree)
        follower.load((locator, path) for _, locator, path in overlays)
        for i, locator, path in overlays:
            sources[i] = follower.follow(locator, path) or sources[i]
    return sources


def resolve(reader: BlobReader, locator: Locator, files: list[tuple[str, str | None]]) -> tuple[Result, str]:
    """The version in the first of `files` (the stage's own first) that sets it, and that file;
    a file that cannot be read stops the search (its error is the cell's). When none sets it,
    the stage's own file's problem, naming the others looked at."""
    for path, blob in files:
        if blob is None:
            return (None, None, "listed in the catalogue's path for this stage but not in the repository"), path
        result = reader.result(locator, blob)
        if not missing(result):
            return result, path
    (own, blob), others = files[0], [path for path, _ in files[1:]]
    version, line, problem = reader.result(locator, blob or "")
    return (version, line, f"{problem} (nor in {', '.join(others)})" if others else problem), own


def inherited_version(*, repo: GitRepository, commit: str, stage_file: StageFile, max_bytes: int | None) -> str | None:
    """The version a stage file that does not set one gets from elsewhere at `commit` (earlier
    layered files, a kustomize overlay's bases), read as the matrix reads it; None when none does."""
    tree = repo.tree(commit)
    if stage_file.path not in tree:
        return None
    reader = BlobReader(repo, {}, max_bytes)
    files = stage_files(stage_file, tree)
    reader.evaluate((stage_file.locator, blob) for _, blob in files if blob)
    result, path, _ = cell_sources(reader, tree, [(stage_file, files)])[0]
    return result[0] if path != stage_file.path else None


def _cell(app: AppSpec, stage: str, path: str, result: Result, commit: Commit | None) -> Cell:
    version, line, problem = result
    error = None
    if problem is not None:
        error = f"{path}:{line}: {problem}" if line else f"{path}: {problem}"
    return Cell(
        application=app.name,
        stage=stage,
        version=version,
        path=path,
        line=line,
        error=error,
        commit=commit.sha if commit else None,
        author=commit.author if commit else None,
        email=commit.email if commit else None,
        date=commit.date if commit else None,
        subject=commit.subject if commit else None,
    )


def cached_results(*, cache_dir: Path, repository: str, max_bytes: int | None = None) -> dict[str, Result]:
    """Locator results remembered from the last read of `repository` (empty if none); a copy."""
    cached = _cache_load(cache_dir / f"{repository}.json", max_bytes)
    return dict(cached.results) if cached else {}


CELL_FIELDS = tuple(f.name for f in fields(Cell))
_cell_values = attrgetter(*CELL_FIELDS)
# The last snapshot each process read or wrote, per cache file, with the file's identity then: a
# worker reading the same repository again skips parsing megabytes of JSON. Callers never mutate
# a loaded snapshot (the reads build new ones; BlobReader gets copies of its results).
_loaded: dict[Path, tuple[tuple[int, int, int, int | None], RepositorySnapshot]] = {}
_loaded_lock = threading.Lock()


def _cache_load(path: Path, max_bytes: int | None) -> RepositorySnapshot | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    identity = (stat.st_ino, stat.st_mtime_ns, stat.st_size, max_bytes)
    with _loaded_lock:
        known = _loaded.get(path)
    if known is not None and known[0] == identity:
        return known[1]
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if data.get("format") != CACHE_FORMAT or data.get("max_bytes") != max_bytes:
        return None  # another format, or results read under another size limit
    snapshot = RepositorySnapshot(
        repository=data["repository"],
        commit=data["commit"],
        fingerprint=data["fingerprint"],
        applications=data["applications"],
        cells=[Cell(*values) for values in data["cells"]],
        results={k: tuple(v) for k, v in data["results"].items()},
        last=data["last"],
        sources=data["sources"],
        pending=data["pending"],
    )
    with _loaded_lock:
        _loaded[path] = (identity, snapshot)
    return snapshot


def _cache_save(path: Path, snapshot: RepositorySnapshot, max_bytes: int | None) -> None:
    data = {"format": CACHE_FORMAT, "max_bytes": max_bytes, "repository": snapshot.repository,
            "commit": snapshot.commit, "fingerprint": snapshot.fingerprint, "applications": snapshot.applications,
            "cells": [_cell_values(cell) for cell in snapshot.cells], "results": snapshot.results,
            "last": snapshot.last, "sources": snapshot.sources, "pending": snapshot.pending}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write-then-rename: a reader never sees a half-written cache.
    with tempfile.NamedTemporaryFile("wb", dir=path.parent, delete=False, suffix=".tmp") as tmp:
        tmp.write(orjson.dumps(data))
    os.replace(tmp.name, path)
    stat = path.stat()
    with _loaded_lock:
        _loaded[path] = ((stat.st_ino, stat.st_mtime_ns, stat.st_size, max_bytes), snapshot)
