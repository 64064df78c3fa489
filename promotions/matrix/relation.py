"""How each cell stands against its upstream stage(s) in the stage graph: `same`, `behind` (an
upstream has a newer version), `ahead` (this stage is newer, e.g. after a rollback upstream),
`diverged` (the upstreams disagree) or `unknown` (cannot order them, or a side has no version).

Versions are ordered by semver when both parse (a `v` prefix allowed; pre-releases by semver's
rules), else by what landed rollbacks teach (the version rolled back to is older than the one it
replaced: a rollback's commit date would call it new), else by when each first appeared in the
application's cells (the dates of the commits that set them, stored with the cells): cheap, no
Git read, one query for the rollbacks. The dashboard, the matrix document and the promotion
request all order versions through `version_compare`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from promotions.catalogue.lookups import Catalog
from promotions.models import Promotion, PromotionItem

RELATIONS = ("same", "behind", "ahead", "diverged", "unknown")

_ID = r"(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)"
SEMVER = re.compile(
    rf"^[vV]?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-({_ID}(?:\.{_ID})*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)

SemverKey = tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]


def semver_key(version: str) -> SemverKey | None:
    """A sort key following semver's precedence (build metadata ignored), or None if not semver."""
    match = SEMVER.match(version)
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    # A pre-release sorts before its release; numeric identifiers before alphanumeric ones.
    ids = tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split(".")) if pre else ()
    return int(major), int(minor), int(patch), 0 if pre else 1, ids


def version_compare(
    a: str, b: str, first_seen: Mapping[str, datetime | None], older: Collection[tuple[str, str]] = ()
) -> int | None:
    """1 if `a` is newer than `b`, -1 if older, 0 if the same; None when they cannot be ordered.
    `older`: (older, newer) pairs known from rollbacks."""
    if a == b:
        return 0
    key_a, key_b = semver_key(a), semver_key(b)
    if key_a is not None and key_b is not None:
        return None if key_a == key_b else (1 if key_a > key_b else -1)  # 1.0.0+a vs 1.0.0+b: unordered
    known = ((a, b) in older, (b, a) in older)
    if any(known):
        return None if all(known) else (-1 if known[0] else 1)  # rolled back both ways: no telling
    seen_a, seen_b = first_seen.get(a), first_seen.get(b)
    if seen_a is None or seen_b is None or seen_a == seen_b:
        return None
    return 1 if seen_a > seen_b else -1


@dataclass(frozen=True)
class Side:
    """One application's cell in one stage, as far as comparing needs it."""

    version: str | None
    error: bool = False
    present: bool = True  # False: the application has no file in this stage
    changed_at: datetime | None = None  # when the version was set there (its commit's date)


@dataclass(frozen=True)
class Relation:
    """A cell against its upstream(s): `relation` is None where there is nothing to compare with
    (a first stage, or an application not in the stage); `source` is the upstream to promote
    from when `behind`."""

    relation: str | None
    upstream: tuple[str, ...] = ()
    source: str = ""
    upstream_version: str | None = None


NONE = Relation(None)


def first_seen(sides: Mapping[str, Side]) -> dict[str, datetime]:
    """When each version first appeared among one application's cells."""
    seen: dict[str, datetime] = {}
    for side in sides.values():
        if side.version and side.changed_at is not None:
            seen[side.version] = min(side.changed_at, seen.get(side.version, side.changed_at))
    return seen


def rollbacks_known(*, applications: Iterable[str] | None = None) -> dict[str, frozenset[tuple[str, str]]]:
    """What landed rollbacks teach, by application: (older, newer) pairs, the version rolled back
    to being older than the one it replaced. One query, whatever the number of applications."""
    landed = (*Promotion.ROLLOUT_STATES, Promotion.State.VERIFIED)
    rows = PromotionItem.objects.filter(promotion__kind=Promotion.Kind.ROLLBACK, promotion__state__in=landed)
    if applications is not None:
        rows = rows.filter(application__in=list(applications))
    found: dict[str, set[tuple[str, str]]] = {}
    for application, older, newer in rows.exclude(from_version="").values_list(
        "application", "to_version", "from_version"
    ):
        found.setdefault(application, set()).add((older, newer))
    return {application: frozenset(pairs) for application, pairs in found.items()}


def relations(
    catalog: Catalog, sides: Mapping[str, Side], older: Collection[tuple[str, str]] = ()
) -> dict[str, Relation]:
    """Each stage's relation for one application whose cells are `sides` (by stage); `older`:
    what its rollbacks teach (`rollbacks_known`)."""
    present = frozenset(stage for stage, side in sides.items() if side.present)
    seen = first_seen(sides)
    return {stage: _relation(catalog, stage, sides, present, seen, older) for stage in sides}


def _relation(
    catalog: Catalog,
    stage: str,
    sides: Mapping[str, Side],
    present: frozenset[str],
    seen: dict[str, datetime],
    older: Collection[tuple[str, str]],
) -> Relation:
    side = sides[stage]
    upstreams = tuple(catalog.nearest_upstreams(stage, present)) if side.present else ()
    if not upstreams:
        return NONE
    theirs = [sides[u] for u in upstreams]
    if side.error or not side.version or any(s.error or not s.version for s in theirs):
        return Relation("unknown", upstreams)
    versions = list(dict.fromkeys(s.version for s in theirs if s.version))
    if len(versions) > 1:
        return Relation("diverged", upstreams)
    order = version_compare(versions[0], side.version, seen, older)
    relation = {0: "same", 1: "behind", -1: "ahead", None: "unknown"}[order]
    return Relation(relation, upstreams, upstreams[0] if relation == "behind" else "", versions[0])


def when(value: datetime | str | None) -> datetime | None:
    """A cell's date, stored (a datetime) or in a document (ISO 8601 text)."""
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
