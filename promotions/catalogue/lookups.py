"""The validated catalogue: repositories, ordered stages and how to find each application."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

from promotions.catalogue.schema import (
    ApplicationConfig,
    ApplicationDefaults,
    ApplicationsSection,
    CatalogFile,
    LiveSelector,
    NotificationConfig,
    RepositoryConfig,
    StageConfig,
    render,
)
from promotions.cluster.labels import (
    LABEL_VALUE_RULE,
    NAMESPACE_RULE,
    SelectorError,
    is_label_value,
    is_namespace_name,
    parse_selector,
)
from promotions.cluster.target import LiveTarget, OperatorRef
from promotions.errors import ConfigError
from promotions.gitops.yaml.locators import Locator
from promotions.hosting.links import HostLinks, gitea_links, github_links, gitlab_links


@dataclass(frozen=True)
class StageFile:
    """Where one application's version lives in one stage: a file path and a bound locator.
    With layered files, `layers` are the files before the stage's own (`path`), earliest
    first: each later file overrides the earlier ones, and promotions write only `path`."""

    path: str
    locator: Locator
    layers: tuple[str, ...] = ()

    @property
    def paths(self) -> tuple[str, ...]:
        """Every file, earliest first, the stage's own last."""
        return (*self.layers, self.path)


def live_problem(app: str, target: LiveTarget, namespace: str) -> str:
    """Why `target` (rendered for one stage) can never find `app` in `namespace`, in words with
    the fix; "" when it can. Discovered names come from folder names, so anything goes."""
    if target.default and not is_label_value(app):
        return (
            f"application name {app!r} is not a valid Kubernetes label value ({LABEL_VALUE_RULE}), so the default "
            f"selector {target.selector} cannot match; set live.selector or live.name for it"
        )
    if target.selector:
        try:
            parse_selector(target.selector)
        except SelectorError as exc:
            return f"application {app!r}: its live selector is not valid: {exc}; fix live.selector or set live.name"
    if not is_namespace_name(namespace):
        return (
            f"application {app!r}: namespace {namespace!r} is not a valid Kubernetes namespace name "
            f"({NAMESPACE_RULE}); set live.namespace for it, or the stage's cluster.namespace"
        )
    return ""


@dataclass(frozen=True)
class AppSpec:
    name: str
    repository: str
    files: dict[str, StageFile]  # by stage name; stages the app cannot be in are absent
    discovered: bool = False
    live: LiveTarget | None = None


@dataclass(frozen=True)
class Catalog:
    path: str
    fingerprint: str
    repositories: tuple[RepositoryConfig, ...]
    stages: tuple[StageConfig, ...]
    applications: ApplicationsSection
    admins: tuple[str, ...] = ()
    notifications: tuple[NotificationConfig, ...] = ()
    warnings: tuple[str, ...] = ()  # "file:line: what is wrong; the fix" (the catalogue still loads)
    _discover: tuple[tuple[str, re.Pattern[str]], ...] = field(default=(), repr=False)
    _items: dict[str, ApplicationConfig] = field(default_factory=dict, repr=False)
    # Discovered names' problems, worked out once per catalogue (the dashboard asks at every view).
    _discovered_problems: dict[str, list[str]] = field(default_factory=dict, repr=False, compare=False)
    _upstreams: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)  # the stage graph's edges

    @property
    def stage_names(self) -> list[str]:
        return [stage.name for stage in self.stages]

    def repository(self, name: str) -> RepositoryConfig:
        return next(repo for repo in self.repositories if repo.name == name)

    def host_links(self, repository: str) -> HostLinks | None:
        """Links to the repository's commits, branches and pull requests on its host (None for a
        host without pages, or a repository the catalogue no longer lists)."""
        repo = next((r for r in self.repositories if r.name == repository), None)
        if repo is None:
            return None
        if repo.provider == "gitlab" and repo.gitlab is not None:
            return gitlab_links(project=repo.gitlab.project, server=repo.gitlab.server)
        if repo.provider == "gitea" and repo.gitea is not None:
            return gitea_links(repo=repo.gitea.repo, api_url=repo.gitea.api)
        if repo.provider == "github" and repo.github is not None:
            return github_links(repo=repo.github.repo, api_url=repo.github.api_url)
        return None

    def stage(self, name: str) -> StageConfig | None:
        return next((s for s in self.stages if s.name == name), None)

    def upstreams(self, stage: str) -> list[str]:
        """The stages `stage` takes releases from (its edges in the stage graph), in graph order."""
        return list(self._upstreams.get(stage, ()))

    def promotion_sources(self, stage: str) -> list[str]:
        """Where a promotion into `stage` may come from: its upstreams, then its `promotion.from`."""
        config = self.stage(stage)
        extra = config.promotion.from_ if config else []
        return list(dict.fromkeys([*self.upstreams(stage), *extra]))

    def nearest_upstreams(self, stage: str, present: set[str] | frozenset[str]) -> list[str]:
        """`stage`'s upstreams among the `present` stages (those an application is in): an upstream
        the application skips is replaced by its own upstreams, as the release passed through them."""
        found: list[str] = []
        todo, seen = self.upstreams(stage), set()
        while todo:
            upstream = todo.pop(0)
            if upstream in seen:
                continue
            seen.add(upstream)
            if upstream in present:
                found.append(upstream)
            else:
                todo += self.upstreams(upstream)
        order = self.stage_names
        return sorted(dict.fromkeys(found), key=order.index)

    @classmethod
    def build(cls, model: CatalogFile, *, path: str, fingerprint: str, lines: dict[tuple[Any, ...], int]) -> Catalog:
        _check(model, path, lines)
        upstreams = stage_graph(model.stages, path, lines)
        discover = model.applications.discover
        patterns = [discover] if isinstance(discover, str) else list(discover or [])
        catalog = cls(
            path=path,
            fingerprint=fingerprint,
            repositories=tuple(model.repositories),
            stages=tuple(sorted(model.stages, key=lambda stage: list(upstreams).index(stage.name))),  # graph order
            applications=model.applications,
            admins=tuple(model.admins),
            notifications=tuple(model.notifications),
            _discover=tuple((p, _pattern_regex(p)) for p in patterns),
            _items={item.name: item for item in model.applications.items},
            _upstreams=upstreams,
        )
        return replace(catalog, warnings=tuple(catalog._item_warnings(lines)))

    def _item_warnings(self, lines: dict[tuple[Any, ...], int]) -> list[str]:
        """Listed applications whose live target can never match (say, a name that is not a
        label value under the default selector), each with the item's file and line."""
        warnings = []
        for i, item in enumerate(self.applications.items):
            loc = ("applications", "items", i)
            line = lines.get((*loc, "name")) or lines.get(loc)
            stages = [s for s in self.stages if item.stages is None or s.name in item.stages]
            target = _live_target(item.name, item.live or self.applications.defaults.live)
            warnings += [f"{self.path}:{line}: {p}" for p in self.live_problems(item.name, target, stages)]
        return warnings

    def live_warnings(self, applications: Iterable[str]) -> list[str]:
        """Why discovered `applications` (names found in Git) cannot be found in their clusters;
        listed ones are in `warnings` already."""
        defaults = self.applications.defaults.live
        warnings: list[str] = []
        for name in sorted(set(applications) - set(self._items)):
            problems = self._discovered_problems.get(name)
            if problems is None:
                problems = self.live_problems(name, _live_target(name, defaults), self.stages)
                self._discovered_problems[name] = problems
            warnings += [f"discovered application: {p}" for p in problems]
        return warnings

    def live_problems(self, app: str, target: LiveTarget, stages: Iterable[StageConfig]) -> list[str]:
        """The distinct problems of `app`'s live target in the `stages` that have a cluster."""
        problems = []
        for stage in stages:
            if stage.cluster is not None:
                namespace = render(target.namespace or stage.cluster.namespace, app=app, stage=stage.name)
                problems.append(live_problem(app, target.for_stage(stage.name), namespace))
        return [p for p in dict.fromkeys(problems) if p]

    def default_repository(self) -> str | None:
        if self.applications.defaults.repository:
            return self.applications.defaults.repository
        return self.repositories[0].name if len(self.repositories) == 1 else None

    def applications_in(self, repository: str, paths: Iterable[str]) -> list[AppSpec]:
        """Every application of `repository`: the listed items plus those discovered in `paths`."""
        items = self._items
        specs = {
            item.name: self._spec(item.name, item, discovered=False)
            for item in self.applications.items
            if (item.repository or self.default_repository()) == repository
        }
        if self._discover and self.default_repository() == repository:
            for name, pattern in self._discovered(paths).items():
                if name not in specs and name not in items:
                    specs[name] = self._spec(name, None, discovered=True, pattern=pattern)
        return sorted(specs.values(), key=lambda spec: spec.name)

    def application(self, name: str, repository: str) -> AppSpec | None:
        """How to read one application: its item, or the defaults if it can be discovered."""
        item = self._items.get(name)
        if item is not None:
            return self._spec(name, item, discovered=False)
        if self._discover and self.default_repository() == repository:
            return self._spec(name, None, discovered=True, pattern=self._discover[0][0])
        return None

    def _discovered(self, paths: Iterable[str]) -> dict[str, str]:
        stages = set(self.stage_names)
        found: dict[str, str] = {}
        for path in paths:
            for pattern, regex in self._discover:
                match = regex.match(path)
                stage = match.groupdict().get("stage") if match else None
                if match and (stage is None or stage in stages):
                    found.setdefault(match["app"], pattern)
        return found

    def _spec(self, name: str, item: ApplicationConfig | None, *, discovered: bool, pattern: str = "") -> AppSpec:
        defaults = self.applications.defaults
        base_path = (item and item.path) or defaults.path or pattern
        base_version = (item and item.version) or defaults.version
        assert base_path, "checked when the catalogue was loaded"
        assert base_version, "checked when the catalogue was loaded"
        files = {}
        for stage in self.stage_names:
            if item and item.stages is not None and stage not in item.stages:
                continue
            override = item.overrides.get(stage) if item else None
            path = (override and override.path) or base_path
            version = (override and override.version) or base_version
            paths = [render(p, app=name, stage=stage) for p in ([path] if isinstance(path, str) else path)]
            files[stage] = StageFile(paths[-1], version.bind(app=name, stage=stage), tuple(paths[:-1]))
        repository = (item and item.repository) or self.default_repository()
        assert repository
        live = _live_target(name, (item and item.live) or defaults.live)
        return AppSpec(name=name, repository=repository, files=files, discovered=discovered, live=live)

    def kubeconfig_path(self, stage: str) -> str | None:
        """The stage's kubeconfig, relative paths taken from the catalogue file's folder."""
        config = self.stage(stage)
        if config is None or config.cluster is None or not config.cluster.kubeconfig:
            return None
        path = Path(config.cluster.kubeconfig).expanduser()
        return str(path if path.is_absolute() else Path(self.path).parent / path)


def _live_target(app: str, live: LiveSelector | None) -> LiveTarget:
    def fill(value: str | None) -> str | None:
        return value.replace("{app}", app) if value else None  # {stage}: LiveTarget.for_stage

    selector = fill(live.selector) if live else None
    name = fill(live.name) if live else None
    default = not selector and not name
    if default:
        selector = f"app.kubernetes.io/name={app}"
    container = fill(live.container) if live and live.container else app
    namespace = fill(live.namespace) if live else None
    named = live.operator if live else None
    operator = OperatorRef(named.kind, fill(named.name) or "", fill(named.namespace)) if named else None
    return LiveTarget(selector, live.kind if live else None, name, container or app, namespace, default, operator)


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    regex = re.escape(pattern).replace(r"\{app\}", "(?P<app>[^/]+)", 1).replace(r"\{stage\}", "(?P<stage>[^/]+)", 1)
    return re.compile(regex.replace(r"\{app\}", "(?P=app)").replace(r"\{stage\}", "(?P=stage)") + "$")


Fail = Callable[[tuple[Any, ...], str], NoReturn]


def _check(model: CatalogFile, path: str, lines: dict[tuple[Any, ...], int]) -> None:
    """Cross-references the schema alone cannot check: names must be declared and unique."""

    def fail(loc: tuple[Any, ...], message: str) -> NoReturn:
        known = max((loc[:i] for i in range(len(loc) + 1) if loc[:i] in lines), key=len)
        raise ConfigError(path, lines[known], message)

    repos = [r.name for r in model.repositories]
    stages = [s.name for s in model.stages]
    for section, names in (("repositories", repos), ("stages", stages)):
        for i, name in enumerate(names):
            if name in names[:i]:
                fail((section, i, "name"), f"{section}[{i}]: duplicate name {name!r}")
    apps = model.applications
    defaults = apps.defaults
    if defaults.repository and defaults.repository not in repos:
        fail(("applications", "defaults", "repository"), _unknown("repository", defaults.repository, repos))
    if apps.discover and not defaults.version:
        fail(
            ("applications", "discover"),
            "discover needs applications.defaults.version (how to read the version)",
        )
    if apps.discover and not defaults.repository and len(repos) > 1:
        fail(
            ("applications", "discover"),
            "discover needs applications.defaults.repository when there are several",
        )
    seen: set[str] = set()
    for i, item in enumerate(apps.items):
        loc = ("applications", "items", i)
        if item.name in seen:
            fail((*loc, "name"), f"applications.items[{i}]: duplicate application {item.name!r}")
        seen.add(item.name)
        _check_item(item, loc, repos, stages, defaults, fail)


def _check_item(
    item: ApplicationConfig,
    loc: tuple[Any, ...],
    repos: list[str],
    stages: list[str],
    defaults: ApplicationDefaults,
    fail: Fail,
) -> None:
    where = f"application {item.name!r}"
    repository = item.repository or defaults.repository or (repos[0] if len(repos) == 1 else None)
    if repository is None:
        fail(loc, f"{where}: no repository (set it, or applications.defaults.repository)")
    if repository not in repos:
        fail((*loc, "repository"), f"{where}: " + _unknown("repository", repository, repos))
    for i, stage in enumerate(item.stages or []):
        if stage not in stages:
            fail((*loc, "stages", i), f"{where}: " + _unknown("stage", stage, stages))
    for stage in item.overrides:
        if stage not in stages:
            fail((*loc, "overrides", stage), f"{where}: overrides " + _unknown("stage", stage, stages))
    for stage in [s for s in stages if item.stages is None or s in item.stages]:
        override = item.overrides.get(stage)
        if not ((override and override.path) or item.path or defaults.path):
            fail(loc, f"{where}: no path for stage {stage!r} (set path, or applications.defaults.path)")
        if not ((override and override.version) or item.version or defaults.version):
            fail(loc, f"{where}: no version locator for stage {stage!r} (set version, or defaults.version)")


def stage_graph(stages: list[StageConfig], path: str, lines: dict[tuple[Any, ...], int]) -> dict[str, tuple[str, ...]]:
    """Each stage's upstreams, keyed in graph order (upstreams first, else as listed); ConfigError
    naming the line for an unknown stage, a stage upstream of itself, or a cycle."""
    names = [stage.name for stage in stages]
    edges: dict[str, tuple[str, ...]] = {}
    for i, stage in enumerate(stages):
        default = [names[i - 1]] if i else []
        listed = stage.upstream if stage.upstream is not None else default
        for j, name in enumerate(listed):
            _graph_name(name, stage.name, ("stages", i, "upstream", j), names, path, lines)
        for j, name in enumerate(stage.promotion.from_):
            _graph_name(name, stage.name, ("stages", i, "promotion", "from", j), names, path, lines)
        edges[stage.name] = tuple(dict.fromkeys(listed))
    return _graph_order(edges, names, path, lines)


def _graph_name(
    name: str, stage: str, loc: tuple[Any, ...], names: list[str], path: str, lines: dict[Any, int]
) -> None:
    where = f"stage {stage!r}: {loc[-2]}"
    if name == stage:
        raise ConfigError(path, _line(lines, loc), f"{where} names the stage itself")
    if name not in names:
        raise ConfigError(path, _line(lines, loc), f"{where}: " + _unknown("stage", name, names))


def _graph_order(
    edges: dict[str, tuple[str, ...]], names: list[str], path: str, lines: dict[Any, int]
) -> dict[str, tuple[str, ...]]:
    """The stages in graph order: each after its upstreams, ties kept in list order (Kahn's
    algorithm); what is left over lies on a cycle, reported with the path around it."""
    done: dict[str, tuple[str, ...]] = {}
    while len(done) < len(names):
        ready = next((n for n in names if n not in done and all(u in done for u in edges[n])), None)
        if ready is None:
            cycle = _cycle(edges, [n for n in names if n not in done])
            i = names.index(cycle[0])
            loc = ("stages", i, "upstream") if ("stages", i, "upstream") in lines else ("stages", i)
            raise ConfigError(path, _line(lines, loc), f"stages: the upstreams form a cycle: {' → '.join(cycle)}")
        done[ready] = tuple(sorted(edges[ready], key=names.index))
    return {name: tuple(sorted(ups, key=list(done).index)) for name, ups in done.items()}


def _cycle(edges: dict[str, tuple[str, ...]], left: list[str]) -> list[str]:
    """One cycle among the `left` stages (each of which has an upstream among them), as a path
    downstream from its first-listed stage."""
    walk = [left[0]]
    while True:
        upstream = next(u for u in edges[walk[-1]] if u in left)
        if upstream in walk:
            loop = walk[walk.index(upstream) :]
            return [*reversed(loop), loop[-1]]
        walk.append(upstream)


def _line(lines: dict[Any, int], loc: tuple[Any, ...]) -> int:
    return lines[max((loc[:i] for i in range(len(loc) + 1) if loc[:i] in lines), key=len)]


def _unknown(what: str, name: str, declared: list[str]) -> str:
    return f"{what} {name!r} is not declared (declared: {', '.join(declared)})"
