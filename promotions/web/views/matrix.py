"""The dashboard: the version matrix, its filters and its refreshes."""

from __future__ import annotations

import time
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from promotions.catalogue.lookups import Catalog
from promotions.matrix.dashboard import Dashboard, dashboard_get, refresh_progress
from promotions.matrix.refresh import matrix_refresh_request
from promotions.matrix.version import cells_version, matrix_version
from promotions.web.htmx import HtmxHttpRequest, htmx_partial
from promotions.web.matrix_rows import matrix_rows
from promotions.web.views.base import with_catalog
from promotions.workflow.freeze import active_freeze, describe
from promotions.workflow.permissions import request_refusal, who
from promotions.workflow.rollout import live_refresh_request


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
    page = _page(params.get("page", ""))
    cells = cells_version(catalog=catalog)
    version = matrix_version(catalog=catalog, cells=cells, extra=(request.user.pk, query, behind, page))
    if request.method == "GET" and htmx_partial(request) and request.GET.get("v") == version:
        return HttpResponse(status=204)  # the periodic update: nothing it shows changed, nothing to swap
    board = dashboard_get(catalog=catalog, query=query, behind_only=behind, page=page, cells=cells)
    actor = who(request.user, catalog)
    now = timezone.now()
    frozen = {s.name: describe(w) for s in catalog.stages if (w := active_freeze(s.promotion, now))}
    requestable = [s for s in catalog.stage_names if request_refusal(actor, catalog, s) is None]
    context = {"board": board, "q": query, "behind": behind, "refreshed": refreshed or since is not None,
               "frozen": frozen, "requestable": requestable, "clusters": any(stage.cluster for stage in catalog.stages),
               "refreshing": refresh_progress(catalog=catalog, since=since) if since is not None else None,
               "reading_clusters": reading_clusters, "problem": problem, "version": version,
               "pager": _pager(query, behind, board), "rows": matrix_rows(board.rows, requestable),
               "catalogue_problems": _catalogue_problems(board) if actor.admin else [],
               "is_admin": actor.admin}  # fmt: skip
    partial = htmx_partial(request)
    template = "promotions/partials/matrix.html" if partial else "promotions/dashboard.html"
    return render(request, template, context)


def _catalogue_problems(board: Dashboard) -> list[str]:
    """What `catalogue check` says, as the last refresh stored it (no Git read here): shown to
    admins, who can fix the catalogue."""
    return [line for state in board.repositories for line in state.problems or []]


def _pager(query: str, behind: bool, board: Dashboard) -> dict[str, str]:
    """The previous and next pages' addresses, keeping the filters ('' where there is none)."""

    def link(page: int) -> str:
        params = {"q": query, "behind": "1" if behind else "", "page": str(page)}
        return f"{reverse('dashboard')}?{urlencode({k: v for k, v in params.items() if v})}"

    return {"previous": link(board.page - 1) if board.page > 1 else "",
            "next": link(board.page + 1) if board.page < board.pages else ""}  # fmt: skip


def _page(value: str) -> int:
    """The page asked for (1 when missing or not a number; past the last, the last)."""
    return int(value) if value.isdigit() and 0 < len(value) <= 6 else 1


def _epoch(value: str) -> int | None:
    """A refresh's start (milliseconds since the epoch) from the page's polling URL, if well-formed."""
    return int(value) if value.isdigit() and len(value) <= 15 else None


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
    if htmx_partial(request):
        return _matrix_response(request, catalog, since=None if problem else since, problem=problem)
    if problem:
        messages.error(request, problem)
        return redirect("dashboard")
    return redirect(f"{reverse('dashboard')}?refreshing={since}")


@require_POST
@login_required
@with_catalog
def refresh_live(request: HtmxHttpRequest, catalog: Catalog) -> HttpResponse:
    """Ask a worker to read every stage's cluster now; the rows update in place when it has."""
    problem = live_refresh_request()
    if htmx_partial(request):
        return _matrix_response(request, catalog, refreshed=True, reading_clusters=not problem, problem=problem)
    if problem:
        messages.error(request, problem)
    else:
        messages.info(request, "Reading the clusters; the cells update as soon as a worker has read them.")
    return redirect("dashboard")
