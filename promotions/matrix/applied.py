"""What each stage's GitOps operator applied, per cell: its Flux or Argo CD objects listed once per
kind per cluster, indexed once, and each cell's change looked up in the revision the operator
applied with one `git rev-list` per distinct revision (not one per cell)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from promotions.catalogue.connect import git_repository
from promotions.catalogue.lookups import Catalog
from promotions.catalogue.schema import OperatorConfig
from promotions.cluster.client import ClusterUnavailable, KubeCluster
from promotions.cluster.observe import Declared
from promotions.cluster.operators import (
    ARGO_KINDS,
    FLUX_KINDS,
    UNKNOWN,
    CellQuery,
    OperatorIndex,
    cell_operator,
    operator_blank,
)
from promotions.gitops.repository import GitRepository

log = logging.getLogger(__name__)


@dataclass
class OperatorRead:
    """One stage's operator as one refresh saw it: each cell's `live.operator` by application, and
    whether the operator could be read at all (its objects, its GitRepository's fetch)."""

    cells: dict[str, dict[str, Any]] = field(default_factory=dict)
    up: bool = True
    reason: str = ""
    calls: int = 0


def operator_read(
    *, catalog: Catalog, config: OperatorConfig, cluster: KubeCluster, declared: list[Declared],
    heads: dict[str, str], observed_at: str,
) -> OperatorRead:  # fmt: skip
    """Read the stage operator's objects and judge every declared cell against them."""
    kinds = FLUX_KINDS if config.kind == "flux" else ARGO_KINDS
    namespaces = {config.objects_namespace} | {d.namespace for d in declared if d.namespace}
    try:
        listing = cluster.read_operators(kinds=kinds, namespaces=namespaces)
    except ClusterUnavailable as exc:
        return operator_unknown(declared, config, exc.reason, observed_at)
    missing = "; ".join(sorted(set(listing.missing.values())))
    if missing:
        return operator_unknown(declared, config, missing, observed_at, calls=listing.calls)
    index = OperatorIndex(config.kind, listing.objects, namespace=config.objects_namespace)
    contains = _Containment(catalog, heads)
    read = OperatorRead(calls=listing.calls)
    problems = []
    for repository in sorted({d.repository for d in declared}):
        repo = catalog.repository(repository)
        if problem := index.sources_problem(repo_url=repo.url, branch=repo.branch):
            problems.append(problem)
    for d in declared:
        if d.problem or not d.path:
            continue
        repo = catalog.repository(d.repository)
        named = None
        if d.target.operator is not None:
            ref = d.target.operator
            named = (ref.kind, ref.namespace or config.objects_namespace, ref.name)
        release = (d.namespace, d.target.name or d.application)
        query = CellQuery(d.path, d.change, repo.url, repo.branch, named, release)
        try:
            read.cells[d.application] = cell_operator(
                index, query, contains=contains.for_repository(d.repository), observed_at=observed_at
            )
        except Exception:  # one application's bug stays in its own cell
            log.exception("operator state of %r: judging failed", d.application)
            read.cells[d.application] = _unknown(config, "internal error reading the operator", observed_at)
    unreadable = "; ".join(f"{where}: {why}" for where, why in sorted(listing.unreadable.items()))
    read.reason = "; ".join(problems + ([unreadable] if unreadable else []))
    read.up = not read.reason
    return read


class _Containment:
    """Whether a change is in a revision, per repository: the commits a revision lacks are listed
    once per distinct revision (`rev-list head ^revision`), then every cell is a set lookup."""

    def __init__(self, catalog: Catalog, heads: dict[str, str]) -> None:
        self.catalog, self.heads = catalog, heads
        self._missing: dict[tuple[str, str], frozenset[str] | None] = {}
        self._git: dict[str, GitRepository] = {}

    def for_repository(self, repository: str):  # type: ignore[no-untyped-def]
        def contains(change: str, revision: str) -> bool | None:
            head = self.heads.get(repository, "")
            if not head or not revision:
                return None
            if change == revision:
                return True
            key = (repository, revision)
            if key not in self._missing:
                self._missing[key] = self._repository(repository).commits_missing(head, revision)
            missing = self._missing[key]
            return None if missing is None else change not in missing

        return contains

    def _repository(self, name: str) -> GitRepository:
        if name not in self._git:
            self._git[name] = git_repository(self.catalog.repository(name))
        return self._git[name]


def operator_unknown(declared: list[Declared], config: OperatorConfig, reason: str, observed_at: str,
                calls: int = 0) -> OperatorRead:  # fmt: skip
    """Every cell's operator as unknown, for one reason (the cluster or the operator cannot be read)."""
    cells = {d.application: _unknown(config, reason, observed_at) for d in declared if d.path}
    return OperatorRead(cells, up=False, reason=reason, calls=calls)


def _unknown(config: OperatorConfig, reason: str, observed_at: str) -> dict[str, Any]:
    return operator_blank(config.title, observed_at) | {"verdict": UNKNOWN, "summary": f"unknown: {reason}"}
