"""Pages. Each view parses input, calls one selector or service, and renders."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import DatabaseError, connection
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.middleware import HtmxDetails

from promotions.config import Catalog, catalog_get
from promotions.errors import ConfigError, PortalError
from promotions.freeze import active_freeze, describe
from promotions.history import application_history_get
from promotions.models import RepositoryState
from promotions.permissions import request_refusal, who
from promotions.selectors import application_cells_get, dashboard_get, refresh_progress
from promotions.services.live import live_refresh_request
from promotions.services.matrix import matrix_refresh_request

View = Callable[..., HttpResponse]


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def with_catalog(view: View) -> View:
    """Load the catalogue (cached by file stamp); a broken one gets a page saying where."""

    @wraps(view)
    def wrapper(request: HtmxHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            catalog = catalog_get(settings.GITOPS_PORTAL_CONFIG)
        except ConfigError as exc:
            context = {"error": exc, "config_path": settings.GITOPS_PORTAL_CONFIG}
            return render(request, "promotions/config_error.html", context, status=503)
        return view(request, catalog, *args, **kwargs)

    return wrapper


def _matrix_response(
    request: HtmxHttpRequest,
    catalog: Catalog,
    *,
    refreshed: bool = False,
    since: int | None = None,
    reading_clusters: bool = False,
    problem: str = "",
) -> HttpResponse:
    params = request.POST if request.method == "POST" else request.GET
    query, behind = params.get("q", ""), params.get("behind") == "1"
    since = since if since is not None else _epoch(request.GET.get("refreshing", ""))
    board = dashboard_get(catalog=catalog, query=query, behind_only=behind)
    actor = who(request.user, catalog)
    now = timezone.now()
    frozen = {s.name: describe(w) for s in catalog.stages if (w := active_freeze(s.promotion, now))}
    requestable = [s for s in catalog.stage_names if request_refusal(actor, catalog, s) is None]
    context = {"board": board, "q": query, "behind": behind, "refreshed": refreshed or since is not None,
               "frozen": frozen, "requestable": requestable, "clusters": any(stage.cluster for stage in catalog.stages),
               "refreshing": refresh_progress(catalog=catalog, since=since) if since is not None else None,
               "reading_clusters": reading_clusters, "problem": problem}  # fmt: skip
    partial = request.htmx and not request.htmx.boosted
    template = "promotions/partials/matrix.html" if partial else "promotions/dashboard.html"
    return render(request, template, context)


def _epoch(value: str) -> int | None:
    """A refresh's start (milliseconds since the epoch) from the page's polling URL, if well-formed."""
    return int(value) if value.isdigit() and len(value) <= 15 else None


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness and readiness for load balancers: the database answers."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return HttpResponse("database unavailable\n", status=503, content_type="text/plain")
    return HttpResponse("ok\n", content_type="text/plain")


@require_GET
@login_required
@with_catalog
def dashboard(request: HtmxHttpRequest, catalog: Catalog) -> HttpResponse:
    return _matrix_response(request, catalog)


@require_POST
@login_required
@with_catalog
def refresh(request: HtmxHttpRequest, catalog: Catalog) -> HttpResponse:
    """Ask a worker to re-read Git now; the page says "reading Git…" and updates itself when the
    worker is done (Git is never read inside a web request: a huge file or a slow server would
    hold the request and its process)."""
    problem = matrix_refresh_request()
    since = int(time.time() * 1000)
    if request.htmx:
        return _matrix_response(request, catalog, since=None if problem else since, problem=problem)
    if problem:
        messages.error(request, problem)
        return redirect("dashboard")
    return redirect(f"{reverse('dashboard')}?refreshing={since}")


def _earlier(history: list[Any], cell: Any) -> list[str]:
    """Versions the stage had before its current one, newest first (rollback targets)."""
    current = cell.version if cell else None
    return [v for v in dict.fromkeys(e.version for e in history if e.version) if v != current]


@require_POST
@login_required
@with_catalog
def refresh_live(request: HtmxHttpRequest, catalog: Catalog) -> HttpResponse:
    """Ask a worker to read every stage's cluster now; the rows update in place when it has."""
    problem = live_refresh_request()
    if request.htmx:
        return _matrix_response(request, catalog, refreshed=True, reading_clusters=not problem, problem=problem)
    if problem:
        messages.error(request, problem)
    else:
        messages.info(request, "Reading the clusters; the cells update as soon as a worker has read them.")
    return redirect("dashboard")


@require_GET
@login_required
@with_catalog
def application_detail(request: HtmxHttpRequest, catalog: Catalog, name: str) -> HttpResponse:
    cells = {cell.stage: cell for cell in application_cells_get(name=name)}
    if not cells:
        raise Http404(f"No application named {name!r} in the matrix.")
    repository = next(iter(cells.values())).repository
    state = RepositoryState.objects.filter(name=repository).first()
    history, history_error = {}, None
    try:
        history = application_history_get(
            catalog=catalog, name=name, repository=repository, commit=state.commit if state else ""
        )
    except PortalError as exc:
        history_error = str(exc)
    actor = who(request.user, catalog)
    stages = [
        {
            "name": stage,
            "cell": cells.get(stage),
            "history": history.get(stage, []),
            "rollback_to": _earlier(history.get(stage, []), cells.get(stage)),
            "may_request": request_refusal(actor, catalog, stage) is None,
        }
        for stage in catalog.stage_names
    ]
    context = {
        "name": name,
        "repository": repository,
        "state": state,
        "stages": stages,
        "history_error": history_error,
    }
    return render(request, "promotions/application.html", context)
