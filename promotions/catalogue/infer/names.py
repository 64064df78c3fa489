"""Which folder and file names are stages, which are applications, and the order of stages.

Stage names follow a handful of conventions (dev, qa, staging, prod, with regions after a
dash); the order of the pipeline follows their rank unless the repository says it (an Argo CD
ApplicationSet list generator). Stages of the same rank are siblings: each takes releases from
every stage of the rank before it, so staging fans out to prod-eu and prod-us.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_WORDS = (
    ("local sandbox dev develop development devel", 0),
    ("test testing qa int integration sit", 1),
    ("stage staging stg uat preprod pre-prod preproduction acceptance acc perf canary", 2),
    ("prod production prd live", 3),
)
RANKS = {word: rank for words, rank in _WORDS for word in words.split()}
# Folders whose children are stages (`overlays/<stage>`, `clusters/<stage>`).
STAGE_PARENTS = frozenset({"overlays", "overlay", "env", "envs", "environments", "environment", "clusters", "stages"})
# Folder names that organise a repository and never name an application or a stage.
STRUCTURAL = frozenset({
    "apps", "applications", "app", "services", "service", "base", "bases", "common", "shared", "default", "overlays",
    "overlay", "env", "envs", "environments", "environment", "clusters", "cluster", "stages", "charts", "chart", "helm",
    "k8s", "kubernetes", "kustomize", "manifests", "deploy", "deployment", "deployments", "infrastructure", "infra",
    "releases", "release", "values", "components", "argocd", "argo-cd", "argo", "flux", "gitops", "patches", "config",
    "configs", "workloads", "resources", "src", "platform", "tenants", "teams",
})  # fmt: skip
_WORD = re.compile(r"[-_.]")


def rank(name: str) -> int | None:
    """The conventional rank of a stage name (dev 0 … prod 3), from its first word; None if unknown."""
    lowered = name.lower()
    if lowered in RANKS:
        return RANKS[lowered]
    first = _WORD.split(lowered, maxsplit=1)[0]
    return RANKS.get(first)


def stage_score(name: str, parent: str | None, known: Iterable[str] = ()) -> int:
    """How surely the folder `name` (inside `parent`) is a stage: 3 the repository names it one, 2 a
    stage word or a child of `overlays/`, `env/`, `clusters/`…, 1 a stage word with a suffix, 0 not."""
    if name in known:
        return 3
    if name.lower() in STRUCTURAL:
        return 0
    if name.lower() in RANKS or (parent or "").lower() in STAGE_PARENTS:
        return 2
    return 1 if rank(name) is not None else 0


def order(names: Iterable[str], listed: Sequence[str] = ()) -> list[str]:
    """Stages in pipeline order: as `listed` (a generator's order) first, the rest by rank, then name."""
    names = set(names)
    first = [name for name in dict.fromkeys(listed) if name in names]
    rest = sorted(names - set(first), key=lambda n: (rank(n) if rank(n) is not None else 99, n))
    return [*first, *rest]


def upstreams(ordered: Sequence[str]) -> dict[str, list[str]]:
    """Each stage's upstreams: every stage of the nearest lower rank group (a run of stages with the
    same rank in `ordered`), none for the first group; unknown ranks continue the line."""
    groups: list[list[str]] = []
    for name in ordered:
        if groups and rank(name) is not None and rank(groups[-1][-1]) == rank(name):
            groups[-1].append(name)
        else:
            groups.append([name])
    return {name: (groups[i - 1] if i else []) for i, group in enumerate(groups) for name in group}
