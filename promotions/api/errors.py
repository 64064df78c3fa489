"""One error shape everywhere under /api/v1/: `{"error": {"code", "message", "details"}}`.

DRF views answer through `exception_handler`; what never reaches a DRF view (a path that matches
no route, an exception outside the view) through `not_found` and `server_error`, so no answer of
the API is ever an HTML page.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response

from promotions.errors import PortalError, TransientError
from promotions.workflow.permissions import Denied
from promotions.workflow.store import NotReadYet

logger = logging.getLogger(__name__)

CODES = {400: "invalid", 401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
         406: "not_acceptable", 409: "conflict", 415: "unsupported_media_type", 429: "throttled",
         500: "server_error", 503: "unavailable"}  # fmt: skip
# The database is down, restarting, or refuses connections: worth retrying, unlike a bug.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
DATABASE_MESSAGE = "the database cannot be reached; try again"


def error_body(status_code: int, message: str, details: Any = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code or CODES.get(status_code, "error"), "message": message, "details": details or {}}}


def error_response(status_code: int, message: str, details: Any = None, code: str | None = None) -> Response:
    return Response(error_body(status_code, message, details, code), status=status_code)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Denied):
        return error_response(status.HTTP_403_FORBIDDEN, str(exc))
    if isinstance(exc, NotReadYet):  # a fresh server: a worker is reading Git
        response = error_response(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc), code="not_read_yet")
        response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, TransientError):
        return error_response(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc))
    if isinstance(exc, PortalError):
        return error_response(status.HTTP_400_BAD_REQUEST, str(exc), code="refused")
    if isinstance(exc, DATABASE_UNAVAILABLE):  # also from authentication, which reads the token
        logger.warning("API answered 503: database unavailable (%s: %s)", type(exc).__name__, exc)
        return error_response(status.HTTP_503_SERVICE_UNAVAILABLE, DATABASE_MESSAGE)
    if isinstance(exc, Http404):
        return error_response(status.HTTP_404_NOT_FOUND, str(exc) or "not found")
    if isinstance(exc, exceptions.ValidationError):
        return error_response(exc.status_code, "the request is not valid", details=exc.detail)
    if isinstance(exc, exceptions.APIException):
        response = error_response(exc.status_code, str(exc.detail))
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            response["WWW-Authenticate"] = 'Bearer realm="gitops-portal"'
        return response
    return None  # a bug: Django logs it and answers through server_error


@csrf_exempt  # any method on a path that matches nothing gets the same 404
def not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """The last route under /api/v1/: unknown paths, and ids that are not numbers."""
    return JsonResponse(error_body(404, f"no such API path: {request.path}"), status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: JSON under /api/ (503 when the database is the cause), Django's page elsewhere."""
    if not request.path.startswith("/api/"):
        return defaults.server_error(request)
    if isinstance(sys.exc_info()[1], DATABASE_UNAVAILABLE):  # called while the exception is handled
        return JsonResponse(error_body(503, DATABASE_MESSAGE), status=503)
    return JsonResponse(error_body(500, "the server failed; the error is logged"), status=500)
