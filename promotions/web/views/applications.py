"""An application's page: each stage's version, history and rollback."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from promotions.catalogue.lookups import Catalog
from promotions.errors import PortalError
from promotions.matrix.changes import changes_between
from promotions.matrix.dashboard import application_cells_get, related_get
from promotions.matrix.history import application_history_get
from promotions.matrix.relation import Relation
from promotions.models import RepositoryState
from promotions.web.htmx import HtmxHttpRequest
from promotions.web.views.base import denied, signed_in_user, with_catalog
from promotions.web.views.promotions import stage_context
from promotions.workflow.permissions import Denied, request_refusal, who
from promotions.workflow.request import promotion_preview
from promotions.workflow.rollback import promotion_rollback, rollback_choice


def _earlier(history: list[Any], cell: Any) -> list[str]:
    """Versions the stage had before its current one, newest first (rollback targets)."""
    current = cell.version if cell else None
    return [v for v in dict.fromkeys(e.version for e in history if e.version) if v != current]


def _upstream_changes(name: str, cell: Any, relation: Relation | None) -> dict[str, Any] | None:
    """For a stage behind its upstream: which stage offers which version, and the releases between
    the stage's version and that one."""
    if cell is None or relation is None or relation.relation != "behind" or not relation.upstream_version:
        return None
    changes = changes_between(application=name, older=cell.version, newer=relation.upstream_version)
    return {"source": relation.source, "changes": changes}


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
    relations = dict(related_get(catalog=catalog)).get(name, {})
    stages = [
        {
            "name": stage,
            "cell": cells.get(stage),
            "history": history.get(stage, []),
            "rollback_to": _earlier(history.get(stage, []), cells.get(stage)),
            "may_request": request_refusal(actor, catalog, stage) is None,
            "upstream": _upstream_changes(name, cells.get(stage), relations.get(stage)),
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


@require_http_methods(["GET", "POST"])
@login_required
@with_catalog
def rollback(request: HtmxHttpRequest, catalog: Catalog, name: str) -> HttpResponse:
    """GET: what the rollback would change (the diff, how it lands, the pin it leaves), as a
    promotion's confirm page does; POST: request it."""
    params = request.POST if request.method == "POST" else request.GET
    stage, version = params.get("stage", ""), params.get("version") or None
    user = signed_in_user(request)
    if request.method == "POST":
        try:
            promotion = promotion_rollback(
                catalog=catalog, application=name, stage=stage, version=version, requested_by=user,
                reason=params.get("reason", ""), actor=user.get_username(),
                override_reason=params.get("override_reason", ""),
            )  # fmt: skip
        except Denied as exc:
            return denied(request, exc, back=f"/apps/{name}/")
        except PortalError as exc:
            messages.error(request, str(exc))
            return redirect("application", name=name)
        return redirect("promotion", promotion_id=promotion.pk)
    actor = who(user, catalog)
    context: dict[str, Any] = {"name": name, "stage": stage, "reason": params.get("reason", "")}
    context |= stage_context(catalog, stage, actor)
    status = 200
    try:
        current, target = rollback_choice(catalog=catalog, application=name, stage=stage, version=version)
        context |= {"current": current, "version": target}
        context["preview"] = promotion_preview(catalog=catalog, applications=[name], from_stage="", to_stage=stage,
                                               version=target, actor=actor)  # fmt: skip
    except PortalError as exc:
        context["problem"] = str(exc)
        status = 400
    return render(request, "promotions/rollback.html", context, status=status)
