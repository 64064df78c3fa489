"""Request-scoped context: every audit event written while serving a request carries its
source and request id (taken from X-Request-ID when a proxy sets one)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from promotions.audit.chain import audit_context

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class AuditContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get("X-Request-ID", "")
        request_id = given if _SAFE_ID.match(given) else uuid.uuid4().hex
        source = (
            "api" if request.path.startswith("/api/") else "webhook" if request.path.startswith("/webhooks/") else "ui"
        )
        with audit_context(source=source, request_id=request_id):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response
