"""The matrix document (`matrix --json`, `GET /api/v1/matrix`; a public contract): every application's
cell per stage, with what the stage's cluster runs."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone

from promotions.catalogue.lookups import Catalog
from promotions.cluster.observe import is_stale
from promotions.matrix.refresh import RepositoryRead
from promotions.matrix.snapshot import Cell
from promotions.models import LiveState, RepositoryState, StageVersion

CELL_KEYS = ("version", "path", "line", "commit", "author", "date", "subject", "error")


LIVE_KEYS = ("version", "versions", "health", "sync", "ready", "desired", "reason", "observed_at")


def matrix_document(
    *, catalog: Catalog, reads: list[RepositoryRead], live: dict[tuple[str, str], dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The `matrix --json` / `GET /api/v1/matrix` document (a public contract). Each cell's
    `live` is what its stage's cluster runs (null when the stage has no cluster)."""
    clustered = {stage.name for stage in catalog.stages if stage.cluster is not None}
    live = live or {}
    applications: dict[str, dict[str, Any]] = {}
    for read in reads:
        for cell in read.snapshot.cells if read.snapshot else []:
            app = applications.setdefault(
                cell.application, {"name": cell.application, "repository": read.name, "stages": {}}
            )
            if app["repository"] == read.name:  # the first repository declaring a name owns it
                document = cell_document(cell)
                document["live"] = _live(cell, clustered, live)
                app["stages"][cell.stage] = document
    return {
        "repositories": [
            {"name": r.name, "commit": r.snapshot.commit if r.snapshot else None, "error": r.error} for r in reads
        ],
        "stages": catalog.stage_names,
        "applications": [applications[name] for name in sorted(applications)],
    }


def _live(cell: Cell, clustered: set[str], live: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any] | None:
    return live_document(live.get((cell.application, cell.stage)), cell.stage in clustered and cell.path is not None)


def live_document(found: dict[str, Any] | None, observable: bool) -> dict[str, Any] | None:
    """A cell's `live`: null where the stage has no cluster (or Git has no such file); `stale`
    when it was observed too long ago to be taken as what runs now."""
    if not observable:
        return None
    if found is None:
        unseen = {"versions": [], "health": "Unknown", "sync": "Unknown", "reason": "not observed yet", "stale": False}
        return dict.fromkeys(LIVE_KEYS) | unseen
    return {key: found[key] for key in LIVE_KEYS} | {"stale": bool(found.get("stale"))}


def live_documents() -> dict[tuple[str, str], dict[str, Any]]:
    """Stored live states by (application, stage), as the matrix document shows them."""

    now, refresh = timezone.now(), settings.GITOPS_PORTAL_LIVE_REFRESH_SECONDS
    rows = LiveState.objects.values("application", "stage", *LIVE_KEYS)
    return {
        (r["application"], r["stage"]): r
        | {"observed_at": r["observed_at"].isoformat(), "stale": is_stale(r["observed_at"], now, refresh)}
        for r in rows
    }


def cell_document(cell: Cell) -> dict[str, Any]:
    if cell.path is None:
        return dict.fromkeys(CELL_KEYS)
    return {key: getattr(cell, key) for key in CELL_KEYS}


def stored_matrix_document(*, catalog: Catalog, query: str = "") -> dict[str, Any]:
    """The `matrix --json` document from what the last refreshes stored (no Git, no cluster)."""
    from promotions.matrix.document import CELL_KEYS, live_document, live_documents

    stages = catalog.stage_names
    clustered = {s.name for s in catalog.stages if s.cluster is not None}
    live = live_documents() if clustered else {}
    rows = StageVersion.objects.filter(stage__in=stages).order_by("application")
    if query:
        rows = rows.filter(application__icontains=query)
    applications: dict[str, dict[str, Any]] = {}
    for cell in rows:
        app = applications.setdefault(cell.application, {"name": cell.application, "repository": cell.repository,
                                                         "stages": {}})  # fmt: skip
        document = dict.fromkeys(CELL_KEYS)
        if cell.path is not None:
            document |= {"version": cell.version, "path": cell.path, "line": cell.line, "commit": cell.commit or None,
                         "author": cell.author or None, "subject": cell.subject or None, "error": cell.error,
                         "date": cell.changed_at.isoformat() if cell.changed_at else None}  # fmt: skip
        found = live.get((cell.application, cell.stage))
        document["live"] = live_document(found, cell.stage in clustered and cell.path is not None)
        app["stages"][cell.stage] = document
    repositories = [
        {"name": s.name, "commit": s.commit or None, "error": s.error or None}
        for s in RepositoryState.objects.filter(name__in=[r.name for r in catalog.repositories])
    ]
    return {"repositories": repositories, "stages": stages, "applications": list(applications.values())}
