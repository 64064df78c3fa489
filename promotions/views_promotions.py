"""Promotion pages: confirm (with the exact diff), detail with a live timeline, list, actions."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from promotions.config import Catalog
from promotions.errors import PortalError
from promotions.models import Promotion
from promotions.selectors import promotion_get, promotions_list
from promotions.services import PromotionError, promotion_cancel, promotion_preview, promotion_request
from promotions.services.executor import promotion_merge
from promotions.views import HtmxHttpRequest, with_catalog

LIVE_STATES = (Promotion.State.QUEUED, Promotion.State.PREPARING, Promotion.State.SYNCING, Promotion.State.DEPLOYED)


@require_http_methods(["GET", "POST"])
@login_required
@with_catalog
def promote(request: HtmxHttpRequest, catalog: Catalog) -> HttpResponse:
    """GET: what would change (the diff); POST: request it."""
    params = request.POST if request.method == "POST" else request.GET
    apps, source, target = params.getlist("app"), params.get("from", ""), params.get("to", "")
    version = params.get("version") or None
    if request.method == "POST":
        try:
            user = request.user
            assert isinstance(user, User)  # login_required
            promotion = promotion_request(
                catalog=catalog, applications=apps, from_stage=source, to_stage=target, version=version,
                reason=params.get("reason", ""), requested_by=user, actor=user.get_username(),
            )  # fmt: skip
        except PortalError as exc:
            messages.error(request, str(exc))
        else:
            return redirect("promotion", promotion_id=promotion.pk)
    context: dict[str, object] = {"apps": apps, "source": source, "target": target, "version": version or ""}
    try:
        preview = promotion_preview(
            catalog=catalog, applications=apps, from_stage=source, to_stage=target, version=version
        )
    except PortalError as exc:
        context["problem"] = str(exc)
    else:
        stage = catalog.stage(target)
        context |= {"preview": preview, "mode": stage.promotion.mode if stage else ""}
    return render(request, "promotions/promote.html", context, status=200 if "preview" in context else 400)


@require_GET
@login_required
def promotion_detail(request: HtmxHttpRequest, promotion_id: int) -> HttpResponse:
    try:
        promotion = promotion_get(promotion_id=promotion_id)
    except Promotion.DoesNotExist:
        raise Http404(f"No promotion #{promotion_id}.") from None
    context = {"promotion": promotion, "live": promotion.state in LIVE_STATES, "portal_url": settings.GITOPS_PORTAL_URL}
    template = "promotions/partials/promotion.html" if request.htmx else "promotions/promotion.html"
    return render(request, template, context)


@require_GET
@login_required
def promotion_list(request: HtmxHttpRequest) -> HttpResponse:
    filters = {key: request.GET.get(key, "").strip() for key in ("application", "stage", "state")}
    rows = promotions_list(application=filters["application"], stage=filters["stage"], state=filters["state"])
    context = {"promotions": rows, "filters": filters, "states": Promotion.State.choices}
    return render(request, "promotions/promotions.html", context)


@require_POST
@login_required
def promotion_action(request: HtmxHttpRequest, promotion_id: int, action: str) -> HttpResponse:
    """Cancel or merge; the outcome is shown on the promotion's page."""
    try:
        promotion = promotion_get(promotion_id=promotion_id)
    except Promotion.DoesNotExist:
        raise Http404(f"No promotion #{promotion_id}.") from None
    actor = request.user.get_username()
    try:
        if action == "cancel":
            promotion_cancel(promotion=promotion, actor=actor, reason=request.POST.get("reason", ""))
        elif action == "merge":
            promotion_merge(promotion=promotion, actor=actor)
        else:
            raise Http404(f"No action {action!r}.")
    except (PromotionError, PortalError) as exc:
        messages.error(request, str(exc))
    return redirect("promotion", promotion_id=promotion_id)
