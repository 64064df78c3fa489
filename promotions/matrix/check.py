"""What a catalogue gets wrong about its repositories: listed applications and discover patterns
that match no file in any stage, each with the nearest existing path as a hint.

A typo in a `path` or a `discover` pattern reads as an empty cell or "0 applications"; this says
which line of the catalogue is wrong and what it probably meant (`manage.py catalogue check`, and
the admins' notice on the dashboard, stored by the refresh).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from promotions.catalogue.connect import git_repository
from promotions.catalogue.lookups import Catalog, _pattern_regex
from promotions.errors import PortalError
from promotions.matrix.snapshot import RepositorySnapshot

CUTOFF = 0.6  # difflib's similarity below which a path is no hint at all


def snapshot_problems(*, catalog: Catalog, snapshot: RepositorySnapshot, data_dir: Path | None = None) -> list[str]:
    """`repository_problems` for a repository just read into `snapshot` (one `ls-tree` of its commit)."""
    repo = git_repository(catalog.repository(snapshot.repository), data_dir=data_dir)
    try:
        paths = repo.tree(snapshot.commit)
    except PortalError as exc:
        return [f"repository {snapshot.repository!r}: cannot list its files to check the catalogue: {exc}"]
    return repository_problems(catalog=catalog, snapshot=snapshot, paths=paths)


def repository_problems(*, catalog: Catalog, snapshot: RepositorySnapshot, paths: Collection[str]) -> list[str]:
    """Every listed application of the repository whose cells found no file in any stage, and every
    discover pattern (of the repository that discovers) that matches no file, as
    "file:line: what: why; did you mean …?"."""
    lines = _catalogue_lines(catalog.path)
    return [
        *_item_problems(catalog, snapshot, paths, lines),
        *_discover_problems(catalog, snapshot.repository, paths, lines),
    ]


def _item_problems(
    catalog: Catalog, snapshot: RepositorySnapshot, paths: Collection[str], lines: dict[str, int]
) -> Iterable[str]:
    found = {cell.application for cell in snapshot.cells if cell.path is not None}
    defaults = catalog.applications.defaults
    for i, item in enumerate(catalog.applications.items):
        spec = catalog.application(item.name, snapshot.repository)
        if item.name in found or spec is None or spec.repository != snapshot.repository or not spec.files:
            continue
        templates = [item.path or defaults.path, *(o.path for o in item.overrides.values() if o.path)]
        shown = " and ".join(dict.fromkeys(_shown(t) for t in templates if t))
        where = f"applications.items[{i}] ({item.name})"
        hint = _nearest((sf.path for sf in spec.files.values()), paths)
        message = f"{where}: path {shown} matched no file in any stage"
        yield _located(catalog.path, lines.get(f"items[{i}]"), message, hint)


def _discover_problems(
    catalog: Catalog, repository: str, paths: Collection[str], lines: dict[str, int]
) -> Iterable[str]:
    discover = catalog.applications.discover
    if not discover or catalog.default_repository() != repository:
        return
    patterns = [discover] if isinstance(discover, str) else discover
    for j, pattern in enumerate(patterns):
        if _discovers(pattern, paths, catalog.stage_names):
            continue
        where = "applications.discover" + ("" if isinstance(discover, str) else f"[{j}]")
        hint = _nearest_for_pattern(pattern, paths, catalog.stage_names)
        message = f"{where}: pattern {pattern} matched no file in any stage"
        yield _located(catalog.path, lines.get(f"discover[{j}]"), message, hint)


def _discovers(pattern: str, paths: Iterable[str], stages: list[str]) -> bool:
    """Whether `pattern` finds an application in any of `paths`, as the catalogue's discovery does."""
    regex = _pattern_regex(pattern)
    for path in paths:
        match = regex.match(path)
        if match and match.groupdict().get("stage", stages[0]) in stages:
            return True
    return False


def _located(file: str, line: int | None, message: str, hint: str | None) -> str:
    where = f"{file}:{line}: " if line else f"{file}: "
    return where + message + (f"; did you mean {hint}?" if hint else "")


def _shown(template: str | list[str] | tuple[str, ...]) -> str:
    return template if isinstance(template, str) else " + ".join(template)


def _nearest(wanted: Iterable[str | list[str] | tuple[str, ...]], paths: Collection[str]) -> str | None:
    """The existing path closest to any of `wanted` (one per stage, in pipeline order), if any is
    close enough; on a tie the earliest stage's."""
    best: tuple[int, str] | None = None
    for entry in wanted:
        for path in [entry] if isinstance(entry, str) else entry:
            for close in difflib.get_close_matches(path, paths, n=1, cutoff=CUTOFF):
                best = _closer(best, _distance(path, close, difflib.SequenceMatcher(None, path, close)), close)
    return best[1] if best else None


def _nearest_for_pattern(pattern: str, paths: Collection[str], stages: list[str]) -> str | None:
    """The existing path closest to `pattern` with {stage} as each stage and {app} as whatever the
    path has in its place (paths with as many folders as the pattern only)."""
    depth = pattern.count("/")
    best: tuple[int, str] | None = None
    for stage in stages:
        template = pattern.replace("{stage}", stage)
        for path in (p for p in paths if p.count("/") == depth):
            candidate = _fill_app(template, path)
            matcher = difflib.SequenceMatcher(None, candidate, path)
            if matcher.real_quick_ratio() >= CUTOFF and matcher.quick_ratio() >= CUTOFF and matcher.ratio() >= CUTOFF:
                best = _closer(best, _distance(candidate, path, matcher), path)
    return best[1] if best else None


def _distance(a: str, b: str, matcher: difflib.SequenceMatcher[str]) -> int:
    """How many characters to insert or delete to turn `a` into `b` (`matcher` compares them): a
    typo is 1 or 2 whatever the length of the path, unlike difflib's ratio."""
    same = sum(block.size for block in matcher.get_matching_blocks())
    return len(a) + len(b) - 2 * same


def _closer(best: tuple[int, str] | None, distance: int, path: str) -> tuple[int, str]:
    return (distance, path) if best is None or distance < best[0] else best


def _fill_app(template: str, path: str) -> str:
    """`template` with {app} taken from the same folder level of `path` (its fixed prefix and
    suffix around {app} removed when the path has them)."""
    parts = path.split("/")
    out = []
    app = None
    for i, segment in enumerate(template.split("/")):
        if "{app}" in segment and app is None:
            prefix, _, suffix = segment.partition("{app}")
            value = parts[i]
            value = value[len(prefix) :] if prefix and value.startswith(prefix) else value
            app = value[: -len(suffix)] if suffix and value.endswith(suffix) else value
        out.append(segment.replace("{app}", app or ""))
    return "/".join(out)


def _catalogue_lines(path: str) -> dict[str, int]:
    """Lines of `applications.items[i]` and `applications.discover[j]` in the catalogue file (the
    loader has checked it; a file changed or gone since gives no lines, never an error)."""
    try:
        root = yaml.compose(Path(path).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError):
        return {}
    applications = _child(root, "applications")
    lines: dict[str, int] = {}
    items = _child(applications, "items")
    if isinstance(items, SequenceNode):
        lines |= {f"items[{i}]": node.start_mark.line + 1 for i, node in enumerate(items.value)}
    discover = _child(applications, "discover")
    if isinstance(discover, SequenceNode):
        lines |= {f"discover[{j}]": node.start_mark.line + 1 for j, node in enumerate(discover.value)}
    elif discover is not None:
        lines["discover[0]"] = discover.start_mark.line + 1
    return lines


def _child(node: Node | None, key: str) -> Node | None:
    if not isinstance(node, MappingNode):
        return None
    return next((value for k, value in node.value if k.value == key), None)
