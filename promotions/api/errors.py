"""One error shape everywhere: `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from promotions.errors import PortalError, TransientError
from promotions.permissions import Denied

CODES = {400: "invalid", 401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
         406: "not_acceptable", 409: "conflict", 415: "unsupported_media_type", 429: "throttled",
         503: "unavailable"}  # fmt: skip


def error_response(status_code: int, message: str, details: Any = None, code: str | None = None) -> Response:
    body = {"error": {"code": code or CODES.get(status_code, "error"), "message": message, "details": details or {}}}
    return Response(body, status=status_code)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Denied):
        return error_response(status.HTTP_403_FORBIDDEN, str(exc))
    if isinstance(exc, TransientError):
        return error_response(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc))
    if isinstance(exc, PortalError):
        return error_response(status.HTTP_400_BAD_REQUEST, str(exc), code="refused")
    if isinstance(exc, Http404):
        return error_response(status.HTTP_404_NOT_FOUND, str(exc) or "not found")
    if isinstance(exc, exceptions.ValidationError):
        return error_response(exc.status_code, "the request is not valid", details=exc.detail)
    if isinstance(exc, exceptions.APIException):
        response = error_response(exc.status_code, str(exc.detail))
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            response["WWW-Authenticate"] = 'Bearer realm="gitops-portal"'
        return response
    return None
