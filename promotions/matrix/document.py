"""The matrix document (`matrix --json`, `GET /api/v1/matrix`; a public contract): every application's
cell per stage, with what the stage's cluster runs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson
from django.conf import settings
from django.utils import timezone

from promotions.catalogue.lookups import Catalog
from promotions.cluster.observe import is_stale
from promotions.matrix.memo import shared
from promotions.matrix.refresh import RepositoryRead
from promotions.matrix.relation import Side, relations, rollbacks_known, when
from promotions.matrix.snapshot import Cell
from promotions.models import LiveState, RepositoryState, StageVersion

CELL_KEYS = ("version", "path", "line", "commit", "author", "date", "subject", "error")


LIVE_KEYS = ("version", "versions", "health", "sync", "ready", "desired", "reason", "observed_at", "operator")


CellRow = tuple[str, str, str, dict[str, Any]]  # application, repository, stage, the cell's fields


def matrix_document(
    *,
    catalog: Catalog,
    reads: list[RepositoryRead],
    live: dict[tuple[str, str], dict[str, Any]] | None = None,
    older: Mapping[str, frozenset[tuple[str, str]]] | None = None,
) -> dict[str, Any]:
    """The document read straight from Git (`matrix --json`); each cell's `live` from `live`. It
    needs no database: the rollbacks' lessons (`rollbacks_known`) only if the caller gives them."""
    repositories = [
        {"name": r.name, "commit": r.snapshot.commit if r.snapshot else None, "error": r.error} for r in reads
    ]
    cells = (
        (cell.application, read.name, cell.stage, cell_document(cell))
        for read in reads
        for cell in (read.snapshot.cells if read.snapshot else [])
    )
    return _document(catalog=catalog, repositories=repositories, cells=cells, live=live or {}, older=older or {})


def stored_matrix_document(
    *, catalog: Catalog, query: str = "", applications: list[str] | None = None
) -> dict[str, Any]:
    """The same document from what the last refreshes stored (no Git, no cluster: the API's), of the
    applications whose name contains `query`, or only of `applications` (a page of them)."""
    clustered = any(s.cluster is not None for s in catalog.stages)
    live = live_documents(query=query, applications=applications) if clustered else {}
    rows = StageVersion.objects.filter(stage__in=catalog.stage_names).order_by("application")
    if query:
        rows = rows.filter(application__icontains=query)
    if applications is not None:
        rows = rows.filter(application__in=applications)
    repositories = [
        {"name": s.name, "commit": s.commit or None, "error": s.error or None}
        for s in RepositoryState.objects.filter(name__in=[r.name for r in catalog.repositories])
    ]
    cells = ((row["application"], row["repository"], row["stage"], _stored_fields(row))
             for row in rows.values("application", "repository", "stage", *STORED_CELL))  # fmt: skip
    older = rollbacks_known(applications=applications)  # landed rollbacks are few: all of them, in one query
    return _document(catalog=catalog, repositories=repositories, cells=cells, live=live, older=older)


def stored_applications(*, catalog: Catalog, query: str = "") -> list[str]:
    """The names of the stored applications (whose name contains `query`), in the document's order."""
    rows = StageVersion.objects.filter(stage__in=catalog.stage_names)
    if query:
        rows = rows.filter(application__icontains=query)
    return list(rows.order_by("application").values_list("application", flat=True).distinct())


def stored_matrix_json(*, catalog: Catalog, version: str, build: Callable[[], dict[str, Any]]) -> bytes:
    """A stored matrix document as JSON, built (`build`) once per `version` (`matrix_version`, which
    must include whatever chose the document: filter, page) and shared by every request and process
    until something it shows changes."""
    return shared("api-matrix", version, lambda: orjson.dumps(build()))


def _document(
    *,
    catalog: Catalog,
    repositories: list[dict[str, Any]],
    cells: Iterable[CellRow],
    live: dict[tuple[str, str], dict[str, Any]],
    older: Mapping[str, frozenset[tuple[str, str]]],
) -> dict[str, Any]:
    """The one builder of the matrix document, whatever the cells were read from. Each cell's
    `live` is what its stage's cluster runs (null when the stage has no cluster)."""
    clustered = {stage.name for stage in catalog.stages if stage.cluster is not None}
    applications: dict[str, dict[str, Any]] = {}
    for application, repository, stage, fields in cells:
        app = applications.setdefault(application, {"name": application, "repository": repository, "stages": {}})
        if app["repository"] != repository:
            continue  # the first repository declaring a name owns it
        observable = stage in clustered and fields["path"] is not None
        app["stages"][stage] = fields | {"live": live_document(live.get((application, stage)), observable)}
    for app in applications.values():
        _relate(catalog, app["stages"], older.get(app["name"], frozenset()))
    return {
        "repositories": repositories,
        "stages": catalog.stage_names,
        "applications": [applications[name] for name in sorted(applications)],
    }


def _relate(catalog: Catalog, cells: dict[str, dict[str, Any]], older: frozenset[tuple[str, str]]) -> None:
    """Each cell's `relation` to its `upstream` stage(s) (the ones it was compared with; none for
    a first stage or where the application has no file: `relation` null)."""
    sides = {
        stage: Side(f["version"], f["error"] is not None, f["path"] is not None, when(f["date"]))
        for stage, f in cells.items()
    }
    for stage, related in relations(catalog, sides, older).items():
        cells[stage] |= {"relation": related.relation, "upstream": list(related.upstream)}


def live_document(found: dict[str, Any] | None, observable: bool) -> dict[str, Any] | None:
    """A cell's `live`: null where the stage has no cluster (or Git has no such file); `stale`
    when it was observed too long ago to be taken as what runs now."""
    if not observable:
        return None
    if found is None:
        unseen = {"versions": [], "health": "Unknown", "sync": "Unknown", "reason": "not observed yet", "stale": False}
        return dict.fromkeys(LIVE_KEYS) | unseen
    # `operator`: what the stage's Flux or Argo CD says about the object applying this cell (null without one)
    return {key: found[key] for key in LIVE_KEYS} | {
        "stale": bool(found.get("stale")),
        "operator": found["operator"] or None,
    }


def live_documents(*, query: str = "", applications: list[str] | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """Stored live states by (application, stage), as the matrix document shows them (only of the
    applications whose name contains `query`, or of `applications`, when given)."""
    now, refresh = timezone.now(), settings.GITOPS_PORTAL_LIVE_REFRESH_SECONDS
    rows = LiveState.objects.values("application", "stage", *LIVE_KEYS)
    if query:
        rows = rows.filter(application__icontains=query)
    if applications is not None:
        rows = rows.filter(application__in=applications)
    documents = {}
    for r in rows:
        when = r["observed_at"].isoformat()
        operator = r["operator"] and r["operator"] | {"observed_at": when}  # read with the row, every time
        documents[r["application"], r["stage"]] = r | {"observed_at": when, "operator": operator,
                                                       "stale": is_stale(r["observed_at"], now, refresh)}  # fmt: skip
    return documents


def cell_document(cell: Cell) -> dict[str, Any]:
    """A cell read from Git, as the document shows it (every key null where the stage has no file)."""
    if cell.path is None:
        return dict.fromkeys(CELL_KEYS)
    return {key: getattr(cell, key) for key in CELL_KEYS}


STORED_CELL = ("version", "path", "line", "commit", "author", "changed_at", "subject", "error")


def _stored_fields(row: dict[str, Any]) -> dict[str, Any]:
    """A stored cell (its values), as the document shows it."""
    if row["path"] is None:
        return dict.fromkeys(CELL_KEYS)
    changed = row["changed_at"]
    return {"version": row["version"], "path": row["path"], "line": row["line"], "commit": row["commit"] or None,
            "author": row["author"] or None, "date": changed.isoformat() if changed else None,
            "subject": row["subject"] or None, "error": row["error"]}  # fmt: skip
