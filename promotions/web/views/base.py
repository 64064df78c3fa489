"""What every page view shares: the catalogue (or a page naming what is wrong with it), refusals."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from promotions.catalogue.loader import catalog_get
from promotions.errors import ConfigError
from promotions.web.htmx import HtmxHttpRequest
from promotions.workflow.permissions import Denied

View = Callable[..., HttpResponse]


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


def denied(request: HttpRequest, exc: Denied, back: str = "/") -> HttpResponse:
    """403 with the reason in words (who may do it instead)."""
    return render(request, "promotions/denied.html", {"reason": str(exc), "back": back}, status=403)


def signed_in_user(request: HttpRequest) -> User:
    """The signed-in user of a view behind `login_required`."""
    assert isinstance(request.user, User)
    return request.user
