"""Promotion pages: confirm (with the exact diff), detail with a live timeline, list,
reviews and actions. Every action is checked by the services; pages only hide buttons."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from promotions.catalogue.lookups import Catalog
from promotions.errors import PortalError
from promotions.matrix.dashboard import behind_applications, selection_digest
from promotions.models import Promotion
from promotions.reviews.approvals import approval_submit, inbox, promotion_reject
from promotions.reviews.merge import promotion_merge
from promotions.reviews.policy import approval_status
from promotions.web.htmx import HtmxHttpRequest, htmx_partial
from promotions.web.views.base import denied, signed_in_user, with_catalog
from promotions.workflow.freeze import active_freeze, describe
from promotions.workflow.permissions import Denied, approve_refusal, cancel_refusal, merge_refusal, request_refusal, who
from promotions.workflow.queries import promotion_get, promotions_list
from promotions.workflow.request import promotion_cancel, promotion_preview, promotion_request

LIVE_STATES = (Promotion.State.QUEUED, Promotion.State.PREPARING, Promotion.State.SYNCING, Promotion.State.DEPLOYED)


@require_http_methods(["GET", "POST"])
@login_required
@with_catalog
def promote(request: HtmxHttpRequest, catalog: Catalog) -> HttpResponse:
    """GET: what would change (the diff); POST: request it."""
    params = request.POST if request.method == "POST" else request.GET
    apps, source, target = params.getlist("app"), params.get("from", ""), params.get("to", "")
    version = params.get("version") or None
    actor = who(signed_in_user(request), catalog)
    status, selection, submitted = 200, "", request.method == "POST"
    if params.get("behind") == "1" and not apps:  # "promote all": every application behind, worked out here
        apps = behind_applications(catalog=catalog, source=source, target=target)
        selection = selection_digest(apps)
        if submitted and params.get("selection") != selection:  # show the new list; promote nothing
            changed = f"the applications of {target} behind {source} changed since the preview"
            messages.error(request, f"{changed} (a promotion landed or a new version arrived): check them again")
            status, submitted = 409, False
    if submitted:
        try:
            promotion = promotion_request(
                catalog=catalog, applications=apps, from_stage=source, to_stage=target, version=version,
                reason=params.get("reason", ""), requested_by=signed_in_user(request), actor=actor.name,
                override_reason=params.get("override_reason", ""), allow_downgrade=params.get("allow_downgrade") == "1",
            )  # fmt: skip
        except Denied as exc:
            return denied(request, exc)
        except PortalError as exc:
            messages.error(request, str(exc))
            status = 400
        else:
            return redirect("promotion", promotion_id=promotion.pk)
    context: dict[str, object] = {"apps": apps, "source": source, "target": target, "version": version or "",
                                  "selection": selection}  # fmt: skip
    context |= _stage_context(catalog, target, actor)
    try:
        preview = promotion_preview(
            catalog=catalog, applications=apps, from_stage=source, to_stage=target, version=version, actor=actor
        )
    except PortalError as exc:
        context["problem"] = str(exc)
        status = 400 if status == 200 else status
    else:
        context["preview"] = preview
    return render(request, "promotions/promote.html", context, status=status)


def _stage_context(catalog: Catalog, stage: str, actor: object) -> dict[str, object]:
    config = catalog.stage(stage)
    if config is None:
        return {}
    window = active_freeze(config.promotion, timezone.now())
    return {
        "mode": config.promotion.mode,
        "frozen": describe(window) if window else "",
        "is_admin": getattr(actor, "admin", False),
        "refusal": request_refusal(actor, catalog, stage),  # type: ignore[arg-type]
    }


@require_GET
@login_required
@with_catalog
def promotion_detail(request: HtmxHttpRequest, catalog: Catalog, promotion_id: int) -> HttpResponse:
    promotion = _get(promotion_id)
    actor = who(signed_in_user(request), catalog)
    context = {
        "promotion": promotion,
        "live": promotion.state in LIVE_STATES,
        "review": approval_status(promotion, catalog) if promotion.pull_request_number else None,
        "can_approve": approve_refusal(actor, catalog, promotion) is None,
        "can_merge": merge_refusal(actor, catalog, promotion) is None,
        "can_cancel": cancel_refusal(actor, catalog, promotion) is None,
    }
    context |= _stage_context(catalog, promotion.to_stage, actor)
    template = "promotions/partials/promotion.html" if htmx_partial(request) else "promotions/promotion.html"
    return render(request, template, context)


def _get(promotion_id: int) -> Promotion:
    try:
        return promotion_get(promotion_id=promotion_id)
    except Promotion.DoesNotExist:
        raise Http404(f"No promotion #{promotion_id}.") from None


@require_GET
@login_required
def promotion_list(request: HtmxHttpRequest) -> HttpResponse:
    filters = {key: request.GET.get(key, "").strip() for key in ("application", "stage", "state")}
    rows = promotions_list(application=filters["application"], stage=filters["stage"], state=filters["state"])
    context = {"promotions": rows, "filters": filters, "states": Promotion.State.choices}
    return render(request, "promotions/promotions.html", context)


@require_POST
@login_required
@with_catalog
def promotion_action(request: HtmxHttpRequest, catalog: Catalog, promotion_id: int, action: str) -> HttpResponse:
    """Approve, reject, merge or cancel; the outcome is shown on the promotion's page."""
    promotion = _get(promotion_id)
    actor = who(signed_in_user(request), catalog)
    post = request.POST
    actions = {
        "approve": lambda: approval_submit(promotion=promotion, actor=actor, comment=post.get("comment", "")),
        "reject": lambda: promotion_reject(promotion=promotion, actor=actor, reason=post.get("reason", "")),
        "merge": lambda: promotion_merge(
            promotion=promotion, actor=actor, override_reason=post.get("override_reason", "")
        ),
        "cancel": lambda: promotion_cancel(promotion=promotion, actor=actor, reason=post.get("reason", "")),
    }
    if action not in actions:
        raise Http404(f"No action {action!r}.")
    try:
        actions[action]()
    except Denied as exc:
        return denied(request, exc, back=f"/promotions/{promotion_id}/")
    except PortalError as exc:
        messages.error(request, str(exc))
    back = post.get("next", "")
    return redirect(back if back.startswith("/") and not back.startswith("//") else f"/promotions/{promotion_id}/")


@require_GET
@login_required
@with_catalog
def approvals_inbox(request: HtmxHttpRequest, catalog: Catalog) -> HttpResponse:
    actor = who(signed_in_user(request), catalog)
    waiting = [(p, approval_status(p, catalog)) for p in inbox(actor=actor, catalog=catalog)]
    return render(request, "promotions/inbox.html", {"waiting": waiting})
