"""Kustomize overlays that inherit their version from a base.

An overlay (`env/staging/kustomization.yaml`) without its own `images:` entry runs what its
local `resources`, `bases` and `components` say: the nearest kustomization `images:` entry
for the image, else a workload manifest's `image:`. The bases of every overlay of a read are
loaded together, one `cat-file` round per depth level (each blob parsed once, cached like
any stage file), then each overlay is followed in memory. Cycles, absolute paths and paths
leaving the repository are errors naming the file and line that lead there.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from typing import Protocol

from promotions.gitops.yaml.locators import (
    KustomizeImageLocator,
    KustomizeReferencesLocator,
    Locator,
    WorkloadImageLocator,
    references,
)

Result = tuple[str | None, int | None, str | None]  # version, line, problem
AnyLocator = Locator | KustomizeReferencesLocator | WorkloadImageLocator
Source = tuple[Result, str, AnyLocator]  # the result, the file that holds it, the locator that read it
KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")
REFERENCES = KustomizeReferencesLocator()
INVALID_YAML = "invalid YAML: "


class Reader(Protocol):
    def evaluate(self, pairs: Iterable[tuple[AnyLocator, str]]) -> None: ...

    def result(self, locator: AnyLocator, blob: str) -> Result: ...


def missing(result: Result) -> bool:
    """Whether a result only says the version is not in that file (so it may come from another
    file), rather than that the file cannot be read."""
    problem = result[2] or ""
    return result[0] is None and not (problem.startswith(INVALID_YAML) or "GITOPS_PORTAL_MAX_FILE_BYTES" in problem)


class BaseFollower:
    """Follows overlays at one commit (`tree`: path -> blob) to the version they inherit."""

    def __init__(self, reader: Reader, tree: dict[str, str]) -> None:
        self.reader = reader
        self.tree = tree
        self.folders = {posixpath.dirname(p): p for p in tree if posixpath.basename(p) in KUSTOMIZATIONS}

    def load(self, overlays: Iterable[tuple[KustomizeImageLocator, str]]) -> None:
        """Read every file the `overlays` ((locator, kustomization path)) may inherit from, one
        batch per depth level."""
        frontier = set(overlays)
        seen = set(frontier)
        while frontier:
            self.reader.evaluate(pair for path, locator in _swap(frontier) for pair in self._pairs(path, locator))
            following = set()
            for locator, path in frontier:
                if posixpath.basename(path) in KUSTOMIZATIONS:
                    following |= {(locator, t) for _, _, t, _ in self._targets(path) if t}
            frontier = following - seen
            seen |= frontier

    def follow(self, locator: KustomizeImageLocator, path: str) -> Source | None:
        """What the overlay `path` inherits, with the file holding it; None when no base sets it."""
        return self._visit(locator, path, (path,), own=True)

    def _pairs(self, path: str, locator: KustomizeImageLocator) -> list[tuple[AnyLocator, str]]:
        blob = self.tree[path]
        if posixpath.basename(path) in KUSTOMIZATIONS:
            return [(REFERENCES, blob), (locator, blob)]
        return [(WorkloadImageLocator(locator.image), blob)] if locator.image else []

    def _visit(
        self, locator: KustomizeImageLocator, path: str, chain: tuple[str, ...], own: bool = False
    ) -> Source | None:
        blob = self.tree[path]
        if not own:
            result = self.reader.result(locator, blob)
            if not missing(result):
                return result, path, locator
        for entry, line, target, problem in self._targets(path):
            if problem:
                return (None, line, problem), path, locator
            if target is None:
                continue
            if target in chain:
                loop = " → ".join(posixpath.dirname(p) or "." for p in (*chain[chain.index(target) :], target))
                return (None, line, f"{entry} leads back to {target}: a cycle ({loop})"), path, locator
            found = self._file(locator, target, chain)
            if found is not None:
                return found
        return None

    def _file(self, locator: KustomizeImageLocator, target: str, chain: tuple[str, ...]) -> Source | None:
        if posixpath.basename(target) in KUSTOMIZATIONS:
            return self._visit(locator, target, (*chain, target))
        if not locator.image:
            return None
        workload = WorkloadImageLocator(locator.image)
        result = self.reader.result(workload, self.tree[target])
        return None if missing(result) else (result, target, workload)

    def _targets(self, path: str) -> list[tuple[str, int, str | None, str | None]]:
        """(entry, line, the file it names or None, the problem) for each reference of `path`."""
        version, _, _ = self.reader.result(REFERENCES, self.tree[path])
        return [(entry, line, *self._resolve(path, entry)) for entry, line in (references(version) if version else [])]

    def _resolve(self, path: str, entry: str) -> tuple[str | None, str | None]:
        """The kustomization or manifest a local reference names (None for a remote one, or
        one not in the repository: kustomize says so when it builds), or why it is refused."""
        if "://" in entry or entry.startswith(("git@", "github.com/", "gitlab.com/", "bitbucket.org/")):
            return None, None
        if entry.startswith("/"):
            return None, f"{entry} is an absolute path; a base must be a relative path inside the repository"
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(path), entry))
        if joined == ".." or joined.startswith("../"):
            return None, f"{entry} leaves the repository; a base must be a relative path inside it"
        if joined in self.tree:
            return joined, None
        return self.folders.get("" if joined == "." else joined), None


def _swap(pairs: Iterable[tuple[KustomizeImageLocator, str]]) -> Iterable[tuple[str, KustomizeImageLocator]]:
    return ((path, locator) for locator, path in pairs)
