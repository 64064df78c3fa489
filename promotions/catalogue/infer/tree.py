"""A repository's files at one commit, as inference reads them.

Every path (one `ls-tree`), and the parsed documents of each YAML or JSON file under a size
limit (one `cat-file --batch`, libyaml's C loader). Helm templates, which are not YAML until
rendered, are skipped without a word; any other file that does not parse is named with its line.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import yaml

from promotions.gitops.yaml.nodes import describe_yaml_error

try:
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Loader = yaml.SafeLoader

MAX_BYTES = 1_000_000  # larger files are generated (CRDs, vendored charts), never a stage file
SUFFIXES = (".yaml", ".yml", ".json")
# Folders whose files are not the team's stage files: the operators' own installation, chart templates.
SKIPPED = ("flux-system", "templates", "crds", ".github", ".gitlab", "node_modules")


class Source(Protocol):
    """What a tree is read from (a `GitRepository`)."""

    def entries(self, commit: str, paths: Iterable[str] = ()) -> dict[str, tuple[str, str]]: ...

    def blob_sizes(self, shas: Iterable[str]) -> dict[str, int]: ...

    def read_blobs(self, shas: Iterable[str]) -> dict[str, bytes]: ...


@dataclass
class Tree:
    """The files of one commit: `paths`, and `documents` of the YAML ones that parsed."""

    paths: frozenset[str]
    documents: dict[str, list[Any]]
    problems: list[str] = field(default_factory=list)
    dirs: frozenset[str] = frozenset()

    def objects(self, path: str) -> list[dict[str, Any]]:
        """The mapping documents of `path` (none if it is not YAML or did not parse)."""
        return [doc for doc in self.documents.get(path, ()) if isinstance(doc, dict)]

    def files_in(self, folder: str) -> list[str]:
        """The files directly inside `folder` ('' is the root), sorted."""
        prefix = f"{folder}/" if folder else ""
        return sorted(p for p in self.paths if p.startswith(prefix) and "/" not in p[len(prefix) :])

    def kustomization(self, folder: str) -> str | None:
        """The kustomization file of `folder`, if it has one."""
        for name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
            path = posixpath.join(folder, name) if folder else name
            if path in self.paths:
                return path
        return None

    def with_kind(self, *kinds: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """(path, object) for every object of one of `kinds`, in path order."""
        for path in sorted(self.documents):
            for obj in self.objects(path):
                if obj.get("kind") in kinds:
                    yield path, obj


def tree_read(source: Source, commit: str) -> Tree:
    """The tree at `commit`: paths from one ls-tree, YAML parsed from one cat-file batch."""
    entries = source.entries(commit)
    paths = frozenset(path for path, (mode, _sha) in entries.items() if mode != "160000")
    wanted = {path: sha for path, (_mode, sha) in entries.items() if _readable(path)}
    sizes = source.blob_sizes(wanted.values())
    problems = [f"{p}: {sizes[s]:,} bytes, larger than {MAX_BYTES:,}; not read" for p, s in sorted(wanted.items())
                if sizes.get(s, 0) > MAX_BYTES]  # fmt: skip
    small = {path: sha for path, sha in wanted.items() if sizes.get(sha, 0) <= MAX_BYTES}
    blobs = source.read_blobs(small.values())
    documents = {}
    for path, sha in sorted(small.items()):
        parsed = _parse(path, blobs[sha], problems)
        if parsed is not None:
            documents[path] = parsed
    return Tree(paths=paths, documents=documents, problems=problems, dirs=_folders(paths))


def _readable(path: str) -> bool:
    return path.endswith(SUFFIXES) and not any(part in SKIPPED for part in path.split("/")[:-1])


def _parse(path: str, raw: bytes, problems: list[str]) -> list[Any] | None:
    try:
        return [doc for doc in yaml.load_all(raw, Loader=_Loader) if doc is not None]
    except yaml.MarkedYAMLError as exc:
        message, line = describe_yaml_error(exc, raw)
        problems.append(f"{path}:{line}: not valid YAML ({message}); not read")
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: a JSON/YAML oddity libyaml rejects
        problems.append(f"{path}: not valid YAML ({exc}); not read")
    return None


def _folders(paths: Iterable[str]) -> frozenset[str]:
    folders = set()
    for path in paths:
        folder = posixpath.dirname(path)
        while folder and folder not in folders:
            folders.add(folder)
            folder = posixpath.dirname(folder)
    return frozenset(folders)
