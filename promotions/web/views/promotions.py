"""Promotion pages: confirm (with the exact diff), detail with a live timeline, list,
reviews and actions. Every action is checked by the services; pages only hide buttons."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Max
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from promotions.catalogue.lookups import Catalog
from promotions.errors import PortalError
from promotions.matrix.dashboard import behind_applications, selection_digest
from promotions.matrix.moving import unsettled
from promotions.models import Promotion
from promotions.reviews.approvals import approval_submit, approved_by, inbox, promotion_reject
from promotions.reviews.merge import promotion_merge
from promotions.reviews.policy import approval_status
from promotions.web.htmx import HtmxHttpRequest, htmx_partial
from promotions.web.views.base import denied, signed_in_user, with_catalog
from promotions.workflow.freeze import active_freeze, describe
from promotions.workflow.permissions import Denied, approve_refusal, cancel_refusal, merge_refusal, request_refusal, who
from promotions.workflow.queries import promotion_get, promotions_list
from promotions.workflow.request import promotion_cancel, promotion_preview, promotion_request

State = Promotion.State
# How often a page showing something still moving asks again, by how long ago it last changed: quick
# while it moves, slower while it waits (a review can take hours).
POLL_STEPS = ((60, 2), (600, 5), (None, 15))


def poll_seconds(changed: datetime | None) -> int:
    """The polling interval for something last changed at `changed` (backs off as it stays still)."""
    if changed is None:  # nothing listed yet: something new arriving is all there is to see
        return POLL_STEPS[-1][1]
    age = (timezone.now() - changed).total_seconds()
    return next(seconds for limit, seconds in POLL_STEPS if limit is None or age < limit)


def _page_version(*parts: object) -> str:
    """The token of what a polled page shows (its update is 204 while the token is the same)."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:20]


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
                lift_pin_reason=params.get("lift_pin_reason", "") if params.get("lift_pin") == "1" else "",
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
    context |= stage_context(catalog, target, actor)
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


def stage_context(catalog: Catalog, stage: str, actor: object) -> dict[str, object]:
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
    """The promotion and its timeline; while it still moves the page asks again (backing off while
    nothing changes) and gets 204 until something it shows did."""
    promotion = _get(promotion_id)
    live = unsettled(promotion, catalog)
    interval = poll_seconds(promotion.updated_at) if live else 0
    # What the page shows: the row (updated_at moves with every save), its timeline and reviews, the
    # viewer (whose permissions decide the buttons), the minute (ages, freeze windows), the interval.
    events = promotion.events.aggregate(count=Count("id"), newest=Max("id"))
    reviews = promotion.approvals.aggregate(count=Count("id"), newest=Max("id"))
    version = _page_version(promotion.updated_at, promotion.state, events, reviews, request.user.pk,
                            int(time.time() // 60), interval)  # fmt: skip
    if htmx_partial(request) and request.GET.get("v") == version:
        return HttpResponse(status=204)
    actor = who(signed_in_user(request), catalog)
    context = {
        "promotion": promotion,
        "live": live,
        "poll": interval,
        "version": version,
        "review": approval_status(promotion, catalog) if promotion.pull_request_number else None,
        "can_approve": approve_refusal(actor, catalog, promotion) is None,
        "approved_by_me": approved_by(promotion, actor),
        "can_merge": merge_refusal(actor, catalog, promotion) is None,
        "can_cancel": cancel_refusal(actor, catalog, promotion) is None,
        "links": _host_links(catalog, promotion),
    }
    context |= stage_context(catalog, promotion.to_stage, actor)
    template = "promotions/partials/promotion.html" if htmx_partial(request) else "promotions/promotion.html"
    return render(request, template, context)


def _host_links(catalog: Catalog, promotion: Promotion) -> dict[str, str]:
    """The promotion's commit, branch and merge commit on the Git host, where it has pages."""
    host = catalog.host_links(promotion.repository)
    if host is None:
        return {}
    links = {"branch": host.branch(promotion.pr_branch or promotion.branch)}
    links |= {"commit": host.commit(promotion.commit)} if promotion.commit else {}
    return links | ({"merge": host.commit(promotion.merge_commit)} if promotion.merge_commit else {})


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
    local = url_has_allowed_host_and_scheme(back, allowed_hosts=None) and back.startswith("/")  # never off-site
    return redirect(back if local else f"/promotions/{promotion_id}/")


@require_GET
@login_required
@with_catalog
def approvals_inbox(request: HtmxHttpRequest, catalog: Catalog) -> HttpResponse:
    """What waits for this user: pull requests to review and approved ones to merge, each with its
    diff and the buttons the user may still use. The page asks again while anything is listed (or
    could be), and gets 204 until the list or one of its items changed."""
    actor = who(signed_in_user(request), catalog)
    items = inbox(actor=actor, catalog=catalog)
    newest = max((item.promotion.updated_at for item in items), default=None)
    interval = poll_seconds(newest)
    version = _page_version([(i.promotion.pk, i.promotion.updated_at, i.to_approve, i.to_merge) for i in items],
                            request.user.pk, int(time.time() // 60), interval)  # fmt: skip
    if htmx_partial(request) and request.GET.get("v") == version:
        return HttpResponse(status=204)
    waiting = [(item, item.review) for item in items]
    context = {"waiting": waiting, "poll": interval, "version": version}
    template = "promotions/partials/inbox.html" if htmx_partial(request) else "promotions/inbox.html"
    return render(request, template, context)
