"""Sign-in: failed attempts are throttled (django-axes) and authentication events go to the audit history.

Passwords can be switched off (GITOPS_PORTAL_LOCAL_LOGIN=false) once single sign-on is on: then
only superusers may still use one. That is the break-glass door: when the identity provider is
down or misconfigured, an administrator can still get in to fix the portal. Keep those accounts
few, with long random passwords kept in a vault.

Throttling counts failures per account and per client address (two limits, see settings). A sign-in
that arrives while its account or address is locked out is refused before any password is checked;
it is neither counted nor audited, so nobody can grow the tables by hammering the login form.
"""

from __future__ import annotations

import ipaddress
import math
from datetime import datetime
from typing import Any

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.views import LoginView
from django.db.models import Max, Q, QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from promotions.audit.chain import audit_record


class LoginThrottle(AxesDatabaseHandler):
    """axes' database handler with two limits: failures per account, and (higher) per client address."""

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        """The failures that count against this sign-in. axes compares one number with one limit (the
        account's), so an address over its own limit counts as an account at its limit."""
        recent = AccessAttempt.objects.filter(attempt_time__gte=get_cool_off_threshold(request))
        by_account = _failures(recent.filter(username=get_client_username(request, credentials)))
        by_address = _failures(recent.filter(ip_address=request.axes_ip_address))  # type: ignore[attr-defined]
        if by_address >= settings.GITOPS_PORTAL_LOGIN_ADDRESS_FAILURE_LIMIT:
            return max(by_account, settings.AXES_FAILURE_LIMIT)
        return by_account

    def is_allowed(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> bool:
        allowed: bool = super().is_allowed(request, credentials)
        request.sign_in_refused = not allowed  # type: ignore[attr-defined]  # read by the audit receivers below
        return allowed


def client_address(request: HttpRequest) -> str:
    """The address failures are counted by: REMOTE_ADDR, or behind N trusted reverse proxies (each
    appending to X-Forwarded-For) the Nth address from the right, the one the outermost proxy saw.
    Whatever the client wrote into X-Forwarded-For itself is further left and never read."""
    remote = str(request.META.get("REMOTE_ADDR", ""))
    proxies = settings.GITOPS_PORTAL_TRUSTED_PROXY_COUNT
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if proxies == 0 or len(hops) < proxies:
        return remote
    try:
        return str(ipaddress.ip_address(hops[-proxies]))
    except ValueError:
        return remote


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    """The 429 page for a refused sign-in: when to try again (also as Retry-After) and who can unlock."""
    username = get_client_username(request, credentials) or ""
    retry_at = _locked_until(request, username)
    context = {"username": username, "retry_at": retry_at}
    response = render(request, "registration/locked_out.html", context, status=429)
    response["Retry-After"] = str(max(1, math.ceil((retry_at - timezone.now()).total_seconds())))
    return response


class PasswordBackend(ModelBackend):
    """Username and password, unless passwords are off (GITOPS_PORTAL_LOCAL_LOGIN=false): then for
    superusers only (break-glass, see the module docstring)."""

    def user_can_authenticate(self, user: Any) -> bool:
        if settings.GITOPS_PORTAL_LOCAL_LOGIN or getattr(user, "is_superuser", False):
            return bool(super().user_can_authenticate(user))
        return False

    def authenticate(self, request: Any, username: str | None = None, password: str | None = None,
                     **kwargs: Any) -> Any:  # fmt: skip
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None and request is not None and not settings.GITOPS_PORTAL_LOCAL_LOGIN and password is not None:
            request.sign_in_failure = (username or "", "password sign-in is off: use single sign-on")
        return user


class PortalLoginView(LoginView):
    """The login page: the single sign-on button when configured, the password form unless
    passwords are off (then behind `?break-glass`, for superusers)."""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context: dict[str, Any] = super().get_context_data(**kwargs)
        local = settings.GITOPS_PORTAL_LOCAL_LOGIN
        asked = "break-glass" in self.request.GET or self.request.method == "POST"
        context.update(oidc_enabled=settings.GITOPS_PORTAL_OIDC_ENABLED, local_login=local,
                       password_form=local or asked)  # fmt: skip
        return context


def login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    if getattr(request, "sign_in_refused", False):
        return  # during a lockout: its start was audited once (locked_out)
    # A backend that knows better than "wrong password" (single sign-on, passwords off) says so here.
    actor, reason = getattr(request, "sign_in_failure", None) or (credentials.get("username", ""), "")
    username = str(actor or "")[:150]  # the password is never recorded
    audit_record(action="auth.login_failed", actor=username or "anonymous",
                 message=reason or "wrong username or password", targets={"ip": _ip(request)})  # fmt: skip


def locked_out(sender: Any, request: Any, username: str | None, ip_address: str | None, **kwargs: Any) -> None:
    if getattr(request, "sign_in_refused", False):
        return  # axes signals again for every attempt during a lockout; only its start is audited
    minutes = int(get_cool_off(request).total_seconds() // 60)
    audit_record(action="auth.locked_out", actor=(username or "anonymous")[:150],
                 message=f"too many failed sign-ins: refused for {minutes} minutes",
                 targets={"ip": ip_address or ""})  # fmt: skip


def logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record(action="auth.login", actor=user.get_username(), message="signed in", targets={"ip": _ip(request)})


def _ip(request: Any) -> str:
    return client_address(request) if request is not None and hasattr(request, "META") else ""


def _failures(attempts: QuerySet[AccessAttempt]) -> int:
    return int(attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0)


def _locked_until(request: HttpRequest, username: str) -> datetime:
    """The lockout ends at the latest when the newest counted failure (of the account or the
    address) is a cool-off old."""
    address = request.axes_ip_address  # type: ignore[attr-defined]
    recent = AccessAttempt.objects.filter(Q(username=username) | Q(ip_address=address),
                                          attempt_time__gte=get_cool_off_threshold(request))  # fmt: skip
    newest = recent.aggregate(newest=Max("attempt_time"))["newest"] or timezone.now()
    return newest + get_cool_off(request)
