"""The notification delivery log (admins only)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from promotions.catalogue.loader import catalog_get
from promotions.models import NotificationDelivery
from promotions.web.views.base import denied
from promotions.workflow.permissions import Denied, who


@require_GET
@login_required
def notification_log(request: HttpRequest) -> HttpResponse:
    catalog = catalog_get(settings.GITOPS_PORTAL_CONFIG)
    if not who(request.user, catalog).admin:
        return denied(request, Denied("only admins see notification deliveries"))
    deliveries = NotificationDelivery.objects.select_related("promotion")[:300]
    return render(request, "promotions/notifications.html", {"deliveries": deliveries,
                                                             "subscriptions": catalog.notifications})  # fmt: skip
