"""Request-scoped context: every audit event written while serving a request carries its
source and request id (taken from X-Request-ID when a proxy sets one)."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any

from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from promotions.audit.chain import audit_context
from promotions.logcontext import log_bind, log_unbind

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# The request id bound for logging in this request's context, unbound when the request finishes.
_request_log: ContextVar[Token[Any] | None] = ContextVar("request_log", default=None)


@receiver(request_finished)
def _request_done(**_: object) -> None:
    token = _request_log.get()
    if token is not None:
        _request_log.set(None)
        with contextlib.suppress(ValueError):  # finished in another context than it began: nothing to undo here
            log_unbind(token)


class AuditContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get("X-Request-ID", "")
        request_id = given if _SAFE_ID.match(given) else uuid.uuid4().hex
        source = (
            "api" if request.path.startswith("/api/") else "webhook" if request.path.startswith("/webhooks/") else "ui"
        )
        # Django logs a 4xx/5xx response after the middleware returns: the request id stays bound
        # for the log lines until the request has finished.
        _request_log.set(log_bind(request_id=request_id))
        with audit_context(source=source, request_id=request_id):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class HealthMiddleware:
    """Answers the health checks before anything else looks at the request: a kubelet or a load
    balancer probes the pod's own address over plain HTTP, which host validation (ALLOWED_HOSTS) and
    the HTTPS redirect would refuse. Nothing else is served this way, and the checks read nothing
    from the request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from promotions.web.views.health import PROBES

        probe = PROBES.get(request.path)
        if probe is not None and request.method in ("GET", "HEAD"):
            return probe(request)
        return self.get_response(request)
